"""Assembles the Typer application from the command modules (each registers on `base.app`).

Registration order is the order of `sqlmig --help`: the deploy-time commands first.
"""

from sqlmig.cli import migrate  # noqa: F401  (registers plan, apply, rollback, status, repair, new)

# isort: split
from sqlmig.cli import (
    batch,  # noqa: F401  (registers finalize)
    check,  # noqa: F401  (registers check, schema, hash)
    lint,  # noqa: F401  (registers lint)
    verify,  # noqa: F401  (registers verify, drift)
)
from sqlmig.cli.base import app

__all__ = ["app"]
