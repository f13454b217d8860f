"""sqlmig: pure-SQL PostgreSQL migrations with declarative manifests.

The public API. Imports stay light here (no psycopg, sqlglot or typer) so that
`sqlmig --version` and `sqlmig lint` start fast; each function imports what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sqlmig.config import Settings
    from sqlmig.project import Project

__all__ = ["__version__", "apply", "load_project", "load_settings", "plan", "rollback", "status"]


def load_settings(project_dir: str = ".", **flags: Any) -> Settings:
    """Settings for a project folder: flags > environment > sqlmig.toml / [tool.sqlmig] > defaults."""
    from sqlmig.config import load_settings as _load

    return _load(project_dir, **flags)


def load_project(settings: Settings) -> Project:
    """Read and validate every migration of a project (no database)."""
    from sqlmig.project import load_project as _load

    return _load(settings)


def plan(settings: Settings, *, to: str | None = None, phase: str | None = None) -> Any:
    """What `apply` would run, read from the database without changing it."""
    from sqlmig.migrator import Migrator

    with Migrator(settings) as m:
        return m.plan_apply(to, phase)


def apply(settings: Settings, *, to: str | None = None, phase: str | None = None, yes: bool = False,
          sink: Any = None) -> Any:  # fmt: skip
    """Apply pending migrations; returns (plan, results)."""
    from sqlmig.events import discard
    from sqlmig.migrator import Migrator

    with Migrator(settings, sink or discard) as m:
        return m.apply(to, phase, yes=yes)


def rollback(settings: Settings, *, steps: int | None = None, to: str | None = None, yes: bool = False,
             sink: Any = None) -> Any:  # fmt: skip
    """Roll back applied migrations newest first; returns (plan, results)."""
    from sqlmig.events import discard
    from sqlmig.migrator import Migrator

    with Migrator(settings, sink or discard) as m:
        return m.rollback(steps, to, yes=yes)


def status(settings: Settings) -> Any:
    """One StatusRow per migration (files and history combined)."""
    from sqlmig.migrator import Migrator

    with Migrator(settings) as m:
        return m.status()
