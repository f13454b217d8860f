"""sqlmig's own tables and every SQL statement about them; the migration lock.

The history table holds one row per migration version: its latest state (applied,
failed, rolled_back), checksums of its three files, who ran it, how long it took, the
error of a failure, how many statements of a `transaction: none` migration completed,
and the rollback SQL as it was when applied. The row of a transactional migration is
written in the migration's own transaction, so the two commit or vanish together.

Contract of the History object (the edge between sqlmig and its bookkeeping):
- `exists()` never creates anything; `read()` returns {} when the table is absent.
- `ensure()` creates the schema objects; call it only while holding the lock.
- every write method runs in the caller's current transaction (or autocommit).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmig.errors import LockNotAcquired

# Columns added after the first release go in _LATER_COLUMNS so old tables are upgraded in place.
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    version           text PRIMARY KEY,
    name              text NOT NULL,
    phase             text NOT NULL,
    status            text NOT NULL CHECK (status IN ('running', 'applied', 'failed', 'rolled_back')),
    transaction_mode  text NOT NULL,
    checksum          text NOT NULL,
    rollback_checksum text,
    manifest_checksum text NOT NULL,
    statements_done   integer NOT NULL DEFAULT 0,
    done_checksum     text,
    started_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at       timestamptz,
    duration_ms       bigint,
    applied_by        text NOT NULL DEFAULT current_user,
    client_host       text DEFAULT host(inet_client_addr()),
    sqlmig_version    text NOT NULL,
    error             text,
    rollback_sql      text,
    point_of_no_return text,
    rolled_back_at    timestamptz,
    schema_hash       text,
    backup_file       text
)
"""
CREATE_SCHEMA = "CREATE SCHEMA IF NOT EXISTS {schema}"
_LATER_COLUMNS: tuple[tuple[str, str], ...] = ()

TABLE_EXISTS = "SELECT to_regclass(%s) IS NOT NULL"

SELECT_ALL = """
SELECT version, name, phase, status, transaction_mode, checksum, rollback_checksum,
       manifest_checksum, statements_done, done_checksum, started_at, finished_at,
       duration_ms, applied_by, client_host, sqlmig_version, error, rollback_sql,
       point_of_no_return, rolled_back_at, schema_hash, backup_file
FROM {table}
"""

# Writes the row for a migration that starts (or restarts) running.
UPSERT_RUNNING = """
INSERT INTO {table} (version, name, phase, status, transaction_mode, checksum, rollback_checksum,
                     manifest_checksum, statements_done, done_checksum, sqlmig_version,
                     rollback_sql, point_of_no_return)
VALUES (%(version)s, %(name)s, %(phase)s, 'running', %(transaction_mode)s, %(checksum)s,
        %(rollback_checksum)s, %(manifest_checksum)s, %(statements_done)s, %(done_checksum)s,
        %(sqlmig_version)s, %(rollback_sql)s, %(point_of_no_return)s)
ON CONFLICT (version) DO UPDATE SET
    name = EXCLUDED.name, phase = EXCLUDED.phase, status = 'running',
    transaction_mode = EXCLUDED.transaction_mode, checksum = EXCLUDED.checksum,
    rollback_checksum = EXCLUDED.rollback_checksum, manifest_checksum = EXCLUDED.manifest_checksum,
    statements_done = EXCLUDED.statements_done, done_checksum = EXCLUDED.done_checksum,
    started_at = clock_timestamp(), finished_at = NULL, duration_ms = NULL,
    applied_by = current_user, client_host = host(inet_client_addr()),
    sqlmig_version = EXCLUDED.sqlmig_version, error = NULL, rollback_sql = EXCLUDED.rollback_sql,
    point_of_no_return = EXCLUDED.point_of_no_return, rolled_back_at = NULL
"""

MARK_PROGRESS = """
UPDATE {table} SET statements_done = %(statements_done)s, done_checksum = %(done_checksum)s
WHERE version = %(version)s
"""

MARK_APPLIED = """
UPDATE {table} SET status = 'applied', finished_at = clock_timestamp(),
    duration_ms = %(duration_ms)s, error = NULL, statements_done = %(statements_done)s,
    done_checksum = %(done_checksum)s
WHERE version = %(version)s
"""

MARK_FAILED = """
UPDATE {table} SET status = 'failed', finished_at = clock_timestamp(),
    duration_ms = %(duration_ms)s, error = %(error)s
WHERE version = %(version)s
"""

MARK_ROLLED_BACK = """
UPDATE {table} SET status = 'rolled_back', rolled_back_at = clock_timestamp(),
    statements_done = 0, done_checksum = NULL, error = NULL
WHERE version = %(version)s
"""

MARK_ROLLBACK_FAILED = "UPDATE {table} SET error = %(error)s WHERE version = %(version)s"

UPDATE_CHECKSUMS = """
UPDATE {table} SET checksum = %(checksum)s, rollback_checksum = %(rollback_checksum)s,
    manifest_checksum = %(manifest_checksum)s
WHERE version = %(version)s
"""

DELETE_ROW = "DELETE FROM {table} WHERE version = %(version)s"

TRY_LOCK = "SELECT pg_try_advisory_lock(%s)"
UNLOCK = "SELECT pg_advisory_unlock(%s)"
LOCK_HOLDER = """
SELECT a.pid, a.application_name, host(a.client_addr), a.usename, a.backend_start, a.state,
       a.xact_start, left(a.query, 200)
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted
  AND l.classid = ((%(key)s >> 32) & 4294967295)::oid AND l.objid = (%(key)s & 4294967295)::oid
  AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1
"""

SET_LOCAL = "SELECT set_config(%s, %s, true)"
SET_SESSION = "SELECT set_config(%s, %s, false)"
SERVER_INFO = "SELECT current_setting('server_version_num')::int, current_user, current_database()"


@dataclass(frozen=True)
class Applied:
    """One history row."""

    version: str
    name: str
    phase: str
    status: str
    transaction_mode: str
    checksum: str
    rollback_checksum: str | None
    manifest_checksum: str
    statements_done: int
    done_checksum: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    applied_by: str | None
    client_host: str | None
    sqlmig_version: str
    error: str | None
    rollback_sql: str | None
    point_of_no_return: str | None
    rolled_back_at: datetime | None
    schema_hash: str | None
    backup_file: str | None


def lock_key(schema: str, table: str) -> int:
    """A stable signed 64-bit advisory lock key for one history table."""
    digest = hashlib.sha256(f"sqlmig:{schema}.{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class History:
    """sqlmig's bookkeeping on one connection: the history table and the advisory lock."""

    def __init__(self, conn: Any, schema: str, table: str) -> None:
        from psycopg import sql

        self.conn = conn
        self.schema = schema
        self.table_name = table
        self._sql = sql
        self.table = sql.Identifier(schema, table)
        self.key = lock_key(schema, table)
        self.locked = False

    def _q(self, template: str) -> Any:
        return self._sql.SQL(template).format(table=self.table, schema=self._sql.Identifier(self.schema))

    # ---- the lock
    def acquire_lock(self, wait_seconds: float, on_wait: Any = None) -> None:
        """Take the session-level advisory lock, polling until `wait_seconds` runs out.

        Raises LockNotAcquired naming who holds it (application, client address, since when).
        """
        deadline = time.monotonic() + max(wait_seconds, 0)
        delay, told = 0.05, False
        while True:
            if self.conn.execute(TRY_LOCK, (self.key,)).fetchone()[0]:
                self.locked = True
                return
            if not told and on_wait:
                on_wait(self.lock_holder())
                told = True
            if time.monotonic() >= deadline:
                holder = self.lock_holder()
                raise LockNotAcquired(
                    f"another migration run holds the lock (waited {wait_seconds:g}s)",
                    details=[f"held by: {holder}"] if holder else [],
                    hint="wait for it to finish, raise --lock-wait, or find the session in pg_stat_activity",
                )
            time.sleep(min(delay, max(deadline - time.monotonic(), 0.01)))
            delay = min(delay * 2, 0.5)

    def lock_holder(self) -> str | None:
        row = self.conn.execute(LOCK_HOLDER, {"key": self.key}).fetchone()
        if not row:
            return None
        pid, app, addr, user, _backend_start, state, xact_start, _query = row
        since = xact_start or _backend_start
        return (
            f"pid {pid}, application_name '{app or ''}', user {user}, client {addr or 'local socket'}, "
            f"state {state}, since {since:%Y-%m-%d %H:%M:%S %Z}".rstrip()
        )

    def release_lock(self) -> None:
        if self.locked and not self.conn.closed:
            self.conn.execute(UNLOCK, (self.key,))
            self.locked = False

    # ---- the table
    def exists(self) -> bool:
        return bool(self.conn.execute(TABLE_EXISTS, (f'"{self.schema}"."{self.table_name}"',)).fetchone()[0])

    def ensure(self) -> None:
        """Create the schema and the table if missing; upgrade older tables in place."""
        with self.conn.transaction():
            if self.schema != "public":
                self.conn.execute(self._q(CREATE_SCHEMA))
            self.conn.execute(self._q(CREATE_TABLE))
            for column, ddl in _LATER_COLUMNS:
                self.conn.execute(self._q(f"ALTER TABLE {{table}} ADD COLUMN IF NOT EXISTS {column} {ddl}"))

    def read(self) -> dict[str, Applied]:
        if not self.exists():
            return {}
        rows = self.conn.execute(self._q(SELECT_ALL)).fetchall()
        return {r[0]: Applied(*r) for r in rows}

    def start(self, row: dict) -> None:
        self.conn.execute(self._q(UPSERT_RUNNING), row)

    def progress(self, version: str, statements_done: int, done_checksum: str | None) -> None:
        self.conn.execute(
            self._q(MARK_PROGRESS),
            {"version": version, "statements_done": statements_done, "done_checksum": done_checksum},
        )

    def applied(self, version: str, duration_ms: int, statements_done: int, done_checksum: str | None) -> None:
        self.conn.execute(
            self._q(MARK_APPLIED),
            {
                "version": version,
                "duration_ms": duration_ms,
                "statements_done": statements_done,
                "done_checksum": done_checksum,
            },
        )

    def failed(self, version: str, duration_ms: int, error: str) -> None:
        self.conn.execute(self._q(MARK_FAILED), {"version": version, "duration_ms": duration_ms, "error": error})

    def rolled_back(self, version: str) -> None:
        self.conn.execute(self._q(MARK_ROLLED_BACK), {"version": version})

    def rollback_failed(self, version: str, error: str) -> None:
        self.conn.execute(self._q(MARK_ROLLBACK_FAILED), {"version": version, "error": error})

    def update_checksums(self, version: str, checksums: dict[str, str | None]) -> None:
        self.conn.execute(
            self._q(UPDATE_CHECKSUMS),
            {
                "version": version,
                "checksum": checksums["up"],
                "rollback_checksum": checksums["rollback"],
                "manifest_checksum": checksums["manifest"],
            },
        )

    def delete(self, version: str) -> None:
        self.conn.execute(self._q(DELETE_ROW), {"version": version})

    # ---- session settings
    def set_local(self, name: str, value: str) -> None:
        self.conn.execute(SET_LOCAL, (name, value))

    def set_session(self, name: str, value: str) -> None:
        self.conn.execute(SET_SESSION, (name, value))

    def server_info(self) -> tuple[int, str, str]:
        return tuple(self.conn.execute(SERVER_INFO).fetchone())  # type: ignore[return-value]
