"""Assembles the Typer application from the command modules (each registers on `base.app`)."""

from sqlmig.cli import (
    batch,  # noqa: F401  (registers finalize)
    check,  # noqa: F401  (registers check, schema, hash)
    lint,  # noqa: F401  (registers lint)
    migrate,  # noqa: F401  (registers plan, apply, rollback, status, new, repair)
    verify,  # noqa: F401  (registers verify, drift)
)
from sqlmig.cli.base import app

__all__ = ["app"]
