"""Settings: flags > environment > sqlmig.toml / [tool.sqlmig] in pyproject.toml > defaults.

One frozen object handed to everything that needs configuration; nothing reads the
environment or the config file anywhere else.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sqlmig.errors import UsageError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


@dataclass(frozen=True)
class Settings:
    project_dir: Path = Path(".")
    database_url: str | None = None
    database_url_source: str = "none"  # which source gave the URL, for the "using database" line
    history_schema: str = "public"
    history_table: str = "sqlmig_history"
    lock_wait: float = 60.0  # seconds to wait for the migration lock
    lock_timeout: str = "5s"  # default per-statement lock wait
    statement_timeout: str = "0"  # default per-statement run time (0 = none)
    retries: int = 3  # lock-timeout retries for a transactional migration
    retry_backoff: float = 1.0  # seconds before the first retry; doubles each time
    # "run": a streamed run's COMMITs do not wait for the WAL flush, except the last, which makes them all
    # durable at once; "each": every migration's COMMIT waits, as psql's would (see sqlmig.streamed)
    sync_commit: str = "run"
    embedded_dir: str = ".sqlmig"  # where the embedded server keeps its data, under the project
    application_name: str = "sqlmig"
    target_pg_version: int = 15  # PostgreSQL major version that lint reasons about
    backup_dir: str = ".sqlmig/backups"
    pg_dump: str = ""  # path of the pg_dump for backups; default: one whose major version matches the server
    large_table_size: str = "100MB"  # plan warns when a statement locks a table larger than this (kB, MB, GB, TB)
    lint: dict = field(default_factory=dict)  # [tool.sqlmig.lint] as given
    source_file: Path | None = None  # the config file that was read, if any

    @property
    def migrations_dir(self) -> Path:
        return self.project_dir / "migrations"

    @property
    def rollback_dir(self) -> Path:
        return self.project_dir / "rollback"

    @property
    def manifests_dir(self) -> Path:
        return self.project_dir / "manifests"


SYNC_COMMIT = ("run", "each")
# PostgreSQL cuts names at 63 characters: sqlmig's <history_table>_checkpoints and _snapshots (sqlmig.batch,
# sqlmig.history) must keep "_c" and "_s" to stay apart from each other and from the table itself.
HISTORY_TABLE_MAX = 61

_ENV = {
    "SQLMIG_LOCK_WAIT": "lock_wait",
    "SQLMIG_LOCK_TIMEOUT": "lock_timeout",
    "SQLMIG_STATEMENT_TIMEOUT": "statement_timeout",
    "SQLMIG_HISTORY_SCHEMA": "history_schema",
    "SQLMIG_HISTORY_TABLE": "history_table",
    "SQLMIG_SYNC_COMMIT": "sync_commit",
}


def _read_config_file(project_dir: Path) -> tuple[dict, Path | None]:
    own = project_dir / "sqlmig.toml"
    if own.is_file():
        return _parse_toml(own), own
    py = project_dir / "pyproject.toml"
    if py.is_file():
        data = _parse_toml(py).get("tool", {}).get("sqlmig")
        if isinstance(data, dict):
            return data, py
    return {}, None


def _parse_toml(path: Path) -> dict:
    import tomllib  # imported here: only a project with a config file needs it

    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read configuration: {exc}", where=str(path)) from exc


def _coerce(name: str, value: Any, where: str) -> Any:
    kinds = {f.name: f.type for f in fields(Settings)}
    kind = kinds[name]
    try:
        if kind == "float":
            return float(value)
        if kind == "int":
            return int(value)
        if kind == "dict":
            if not isinstance(value, dict):
                raise ValueError("expected a table")
            return value
        if isinstance(value, bool | dict | list):
            raise ValueError("expected a string")
        return str(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"invalid value for {name}: {value!r} ({exc})", where=where) from exc


def load_settings(project_dir: Path | str = ".", **flags: Any) -> Settings:
    """Build Settings for a project. `flags` are command-line values; None means "not given"."""
    project_dir = Path(project_dir)
    if not project_dir.is_dir():
        what = "is not a folder" if project_dir.exists() else "does not exist"
        raise UsageError(f"project folder {project_dir} {what} ({project_dir.resolve()})",
                         hint="create it, or give --project the folder that holds migrations/ (default: the "
                         "current directory)")  # fmt: skip
    values: dict[str, Any] = {"project_dir": project_dir}
    data, source = _read_config_file(project_dir)
    known = {f.name for f in fields(Settings)} - {"project_dir", "database_url_source", "source_file"}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in known:
            raise UsageError(
                f"unknown configuration key '{key}'",
                where=str(source),
                hint=f"known keys: {', '.join(sorted(known))}",
            )
        values[name] = _coerce(name, value, str(source))
    if values.get("database_url"):
        values["database_url_source"] = source.name if source else "config"
    values["source_file"] = source

    for env, name in _ENV.items():
        if os.environ.get(env):
            values[name] = _coerce(name, os.environ[env], f"${env}")
    for env in ("DATABASE_URL", "SQLMIG_DATABASE_URL"):  # later wins: SQLMIG_ beats DATABASE_URL
        if os.environ.get(env):
            values["database_url"] = os.environ[env]
            values["database_url_source"] = f"${env}"

    for name, value in flags.items():
        if value is not None:
            values[name] = value
            if name == "database_url":
                values["database_url_source"] = "--database-url"

    settings = Settings(**values)
    for name, what in (("lock_wait", "--lock-wait / lock_wait (seconds; 0: try the lock once)"),
                       ("retries", "retries"), ("retry_backoff", "retry_backoff (seconds)")):  # fmt: skip
        if getattr(settings, name) < 0:
            raise UsageError(f"{what} must be 0 or more, got {getattr(settings, name):g}")
    if settings.sync_commit not in SYNC_COMMIT:
        raise UsageError(f"sync_commit must be one of {', '.join(SYNC_COMMIT)}, got {settings.sync_commit!r}")
    for name in ("history_schema", "history_table"):
        if not _IDENT.match(getattr(settings, name)):
            raise UsageError(f"{name} must be a plain identifier, got {getattr(settings, name)!r}")
    if len(settings.history_table) > HISTORY_TABLE_MAX:
        raise UsageError(f"history_table must be at most {HISTORY_TABLE_MAX} characters, got "
                         f"{len(settings.history_table)}: sqlmig also names <history_table>_checkpoints and "
                         "<history_table>_snapshots, which PostgreSQL cuts at 63 and must tell apart")  # fmt: skip
    return settings


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})
