"""Backups before a point of no return: a pg_dump (custom format) of the tables it drops or alters.

A manifest that says `point_of_no_return: {reason: …, backup: required}` makes `apply`
dump those tables into `backup_dir` before the migration's first statement, record the
file on the migration's history row, and refuse to run the migration when the dump fails.
`apply --no-backup` skips the dump with a warning.

pg_dump must have the server's major version (an older one refuses a newer server, and a
newer one writes archives an older pg_restore cannot read). sqlmig looks for one in the
`pg_dump` setting, the embedded PostgreSQL package, the usual per-version install paths
and PATH, and says what to install when none matches.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmig import postgres
from sqlmig.errors import BackupFailed
from sqlmig.events import Note

RESOLVE_TABLE = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass(%s) AND c.relkind IN ('r', 'p', 'm')
"""
SERVER_MAJOR = "SELECT current_setting('server_version_num')::int / 10000"
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


def _candidates(major: int, configured: str) -> list[str]:
    if configured:
        return [configured]
    from sqlmig.db import embedded_bin_dir

    bin_dir = embedded_bin_dir()
    out = [str(bin_dir / "pg_dump")] if bin_dir else []
    out += [f"/usr/lib/postgresql/{major}/bin/pg_dump", f"/usr/pgsql-{major}/bin/pg_dump",
            f"/opt/homebrew/opt/postgresql@{major}/bin/pg_dump",
            f"/usr/local/opt/postgresql@{major}/bin/pg_dump"]  # fmt: skip
    on_path = shutil.which("pg_dump")
    if on_path:
        out.append(on_path)
    return out


def pg_dump_major(path: str) -> int | None:
    """The major version a pg_dump binary reports, or None when it does not run."""
    try:
        res = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    match = _VERSION.search(res.stdout)
    return int(match.group(1)) if match and res.returncode == 0 else None


def find_pg_dump(major: int, configured: str = "") -> str:
    """A pg_dump of the server's major version; BackupFailed (saying what to install) when there is none."""
    tried = []
    for path in _candidates(major, configured):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        found = pg_dump_major(path)
        if found == major:
            return path
        tried.append(f"{path} (PostgreSQL {found})" if found else f"{path} (does not run)")
    raise BackupFailed(
        f"no pg_dump for PostgreSQL {major} found, so the backup this point of no return requires cannot be taken",
        details=[f"tried: {t}" for t in tried] or ["no pg_dump found"],
        hint=f"install the PostgreSQL {major} client (Debian/Ubuntu: apt-get install postgresql-client-{major}; "
        f"RHEL: dnf install postgresql{major}; macOS: brew install postgresql@{major}) or set "
        "pg_dump = '/path/to/pg_dump' in sqlmig.toml; or rerun with --no-backup to go without",
    )


def affected_tables(conn: Any, migration: Any, pg_version: int) -> list[tuple[str, str]]:
    """(schema, table) of each existing table the migration drops or alters, in first-seen order.

    "Alters" is what postgres.lock_effects says: a lock of ROW EXCLUSIVE or stronger (DML,
    DDL, DROP, TRUNCATE); tables only read (ACCESS SHARE) are left out.
    """
    out: list[tuple[str, str]] = []
    floor = postgres.lock_rank("ROW EXCLUSIVE")
    for stmt in migration.up.statements:
        for effect in postgres.lock_effects(stmt, pg_version=pg_version):
            if postgres.lock_rank(effect.mode) < floor:
                continue
            row = conn.execute(RESOLVE_TABLE, (effect.table,)).fetchone()
            if row is not None and tuple(row) not in out:
                out.append(tuple(row))
    return out


def _pattern(schema: str, table: str) -> str:
    """An exact pg_dump -t pattern: both parts double-quoted (a quote inside doubles)."""
    return '"{}"."{}"'.format(schema.replace('"', '""'), table.replace('"', '""'))


def _environment(conninfo: str) -> tuple[list[str], dict[str, str]]:
    """--dbname argument and environment for pg_dump: the password travels in PGPASSWORD, not argv."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    env = dict(os.environ)
    if not conninfo:
        return [], env  # libpq environment variables
    params = conninfo_to_dict(conninfo)
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return [f"--dbname={make_conninfo('', **params)}"], env


def take_backup(conn: Any, conninfo: str, settings: Any, migration: Any) -> tuple[Path, list[tuple[str, str]]]:
    """Dump the tables `migration` drops or alters (the whole database when none can be named).

    Returns the file written and the tables in it. Raises BackupFailed; a failed dump leaves no file.
    """
    major = conn.execute(SERVER_MAJOR).fetchone()[0]
    pg_dump = find_pg_dump(major, settings.pg_dump)
    tables = affected_tables(conn, migration, major)
    folder = Path(settings.backup_dir)
    folder = folder if folder.is_absolute() else settings.project_dir / folder
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{migration.version}_{migration.name}-{stamp}.dump"
    dbname, env = _environment(conninfo)
    args = [pg_dump, "--format=custom", f"--file={path}", f"--lock-wait-timeout={settings.lock_timeout}", *dbname]
    args += [f"--table={_pattern(s, t)}" for s, t in tables]
    try:
        res = subprocess.run(args, capture_output=True, text=True, env=env, timeout=None, check=False)
    except OSError as exc:
        res = subprocess.CompletedProcess(args, 1, "", str(exc))
    if res.returncode != 0:
        path.unlink(missing_ok=True)
        raise BackupFailed(
            f"pg_dump failed before {migration.version}_{migration.name}; the migration did not run",
            where=migration.manifest_display,
            details=res.stderr.strip().splitlines()[-10:],
            hint=f"fix the cause and apply again, or rerun with --no-backup to go without (pg_dump: {pg_dump})",
        )
    return path, tables


class BackupHook:
    """Runner's before_step for apply: the backup a `backup: required` point of no return asks for."""

    def __init__(self, migrator: Any, *, skip: bool = False) -> None:
        self.migrator = migrator
        self.skip = skip
        self.files: dict[str, str] = {}  # version -> backup file

    def __call__(self, step: Any) -> None:
        m = step.migration
        ponr = m.manifest.point_of_no_return if m is not None and step.direction == "up" else None
        if ponr is None or ponr.backup != "required":
            return
        emit = self.migrator.emit
        if self.skip:
            emit(Note("warning", f"{m.stem}: --no-backup: running this point of no return without the backup "
                      f"its manifest requires ({ponr.reason})"))  # fmt: skip
            return
        path, tables = take_backup(self.migrator.conn, self.migrator.target.conninfo, self.migrator.settings, m)
        what = ", ".join(f"{s}.{t}" for s, t in tables) if tables else "the whole database"
        emit(Note("info", f"{m.stem}: backup of {what} written to {path}"))
        self.files[m.version] = str(path)

    def record(self, history: Any, *, quiet: bool = False) -> None:
        """Write each backup's file name on its migration's history row (the rows exist once the steps ran)."""
        import psycopg

        try:
            for version, path in self.files.items():
                history.set_backup_file(version, path)
        except psycopg.Error:
            if not quiet:
                raise
