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
- `transaction()` opens a migration's transaction with its timeouts (one round trip) and
  rolls it back on any exception; `record_run(..., commit=True)` writes the row and
  commits in one round trip, so a migration costs what psql needs for BEGIN … COMMIT.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
    manifest_checksum = %(manifest_checksum)s, rollback_sql = coalesce(%(rollback_sql)s, rollback_sql)
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

# ---- one migration's transaction, in as few round trips as psql needs for BEGIN … COMMIT.
# {…} placeholders are composed with psycopg.sql.Literal: these are multi-statement simple queries.
BEGIN = "BEGIN"
SET_LOCAL_TIMEOUTS = (
    "SELECT set_config('lock_timeout', {lock_timeout}, true), "
    "set_config('statement_timeout', {statement_timeout}, true)"
)
# A streamed migration that is not the last of its run commits without waiting for the WAL flush:
# the last one's flush covers every commit before it (sqlmig.streamed says why that is safe).
SET_LOCAL_TIMEOUTS_NO_FLUSH_WAIT = SET_LOCAL_TIMEOUTS + ", set_config('synchronous_commit', 'off', true)"
SET_SESSION_TIMEOUTS = (
    "SELECT set_config('lock_timeout', {lock_timeout}, false), "
    "set_config('statement_timeout', {statement_timeout}, false)"
)
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"
# A commit that waits for the WAL flush, and with it for every asynchronous commit before it: a
# transaction commits with a WAL record (and waits) only when it took a transaction id.
FLUSH_WAL = "BEGIN; SELECT txid_current(); COMMIT"
# sqlmig splits files assuming standard_conforming_strings = on ('a\' is a whole string), so the
# server must read them the same way, whatever the database or role default says.
SESSION_DEFAULTS = "SET standard_conforming_strings = on"
# Undo what a migration's own SET / SET ROLE did, so it cannot leak into the next migration or
# into sqlmig's bookkeeping (psql -f would have started each file in a fresh session).
RESET_SESSION_STATEMENTS = ("RESET ALL", "RESET SESSION AUTHORIZATION", "RESET ROLE", SESSION_DEFAULTS)
RESET_SESSION = "; ".join(RESET_SESSION_STATEMENTS)
# The whole history row in one statement: the outcome of a run (applied, failed) or its start
# (running, for `transaction: none`). A row a rule or trigger drops is an error inside the
# migration's transaction (a cast that fails, naming why: plain SQL has no RAISE), so the migration
# is not committed without it; otherwise it would count as pending and run again. started_at is
# derived from the run's duration so one statement at the end can record it. A NULL duration_ms is
# the time since the transaction began, measured by the server (a streamed migration's row is sent
# before its statements ran), and started_at is that beginning, now(), itself: derived from the
# rounded duration, it could fall before the previous migration's finished_at when commits follow
# each other within a millisecond.
RECORD_RUN = """
WITH run AS (SELECT now() AS began, clock_timestamp() AS at, {duration_ms}::int AS given),
written AS (
INSERT INTO {table} (version, name, phase, status, transaction_mode, checksum, rollback_checksum,
                     manifest_checksum, statements_done, done_checksum, started_at, finished_at,
                     duration_ms, sqlmig_version, error, rollback_sql, point_of_no_return)
SELECT {version}, {name}, {phase}, {status}, {transaction_mode}, {checksum}, {rollback_checksum},
       {manifest_checksum}, {statements_done}, {done_checksum},
       CASE WHEN run.given IS NULL THEN run.began ELSE run.at - run.given * interval '1 millisecond' END,
       CASE WHEN {status} <> 'running' THEN run.at END,
       coalesce(run.given, (extract(epoch FROM run.at - run.began) * 1000)::int),
       {sqlmig_version}, {error}, {rollback_sql}, {point_of_no_return}
FROM run
ON CONFLICT (version) DO UPDATE SET
    name = EXCLUDED.name, phase = EXCLUDED.phase, status = EXCLUDED.status,
    transaction_mode = EXCLUDED.transaction_mode, checksum = EXCLUDED.checksum,
    rollback_checksum = EXCLUDED.rollback_checksum, manifest_checksum = EXCLUDED.manifest_checksum,
    statements_done = EXCLUDED.statements_done, done_checksum = EXCLUDED.done_checksum,
    started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, duration_ms = EXCLUDED.duration_ms,
    applied_by = current_user, client_host = host(inet_client_addr()),
    sqlmig_version = EXCLUDED.sqlmig_version, error = EXCLUDED.error, rollback_sql = EXCLUDED.rollback_sql,
    point_of_no_return = EXCLUDED.point_of_no_return, rolled_back_at = NULL
RETURNING duration_ms
)
SELECT CASE WHEN count(*) = 1 THEN max(duration_ms)
            ELSE ('history row not written: a rule or trigger on the table dropped it (' || count(*) || ')')::int
       END
FROM written
"""

# A streamed run prepares RECORD_RUN once and binds each migration's row to it: planning this
# INSERT … ON CONFLICT for every migration cost the server ~0.1 ms each. Its {placeholders} become
# $1, $2… (each cast: the server cannot infer a parameter's type from an INSERT … SELECT list).
_INT_PARAMS = {"duration_ms", "statements_done"}


def _as_prepared(template: str) -> tuple[str, tuple[str, ...]]:
    """A {placeholder} template as a statement with $n parameters ({table} kept), and the names in order."""
    names: list[str] = []

    def param(m: re.Match) -> str:
        name = m[1]
        if name == "table":
            return m[0]
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}::{'int' if name in _INT_PARAMS else 'text'}"

    return re.sub(r"\{(\w+)\}", param, template), tuple(names)


RECORD_RUN_PREPARED, RECORD_RUN_PARAMS = _as_prepared(RECORD_RUN)


# ---- batched data migrations (sqlmig.batch). {checkpoints} is <history_table>_checkpoints in the history
# schema; {table}, {cols}, {capture}… are composed with psycopg.sql by sqlmig.batch, never by string formatting.

# One row per (migration, statement): the last key whose range committed, written in the range's own
# transaction, so a crash, a kill -9 or Ctrl-C can neither lose a committed range nor replay one;
# elapsed_ms is the time spent on the statement up to that range, summed over every run.
CREATE_CHECKPOINTS = """
CREATE TABLE IF NOT EXISTS {checkpoints} (
    version        text NOT NULL,
    statement      integer NOT NULL,
    checksum       text NOT NULL,
    last_key       text[],
    keys_done      bigint NOT NULL DEFAULT 0,
    rows_touched   bigint NOT NULL DEFAULT 0,
    batches        integer NOT NULL DEFAULT 0,
    total_estimate bigint,
    done           boolean NOT NULL DEFAULT false,
    capture_table  text,
    elapsed_ms     bigint NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (version, statement)
)
"""
SELECT_CHECKPOINTS = """
SELECT version, statement, checksum, last_key, keys_done, rows_touched, batches, total_estimate, done,
       capture_table, elapsed_ms, updated_at
FROM {checkpoints} WHERE version = %(version)s ORDER BY statement
"""
SELECT_ALL_CHECKPOINTS = """
SELECT version, statement, checksum, last_key, keys_done, rows_touched, batches, total_estimate, done,
       capture_table, elapsed_ms, updated_at
FROM {checkpoints} ORDER BY version, statement
"""
UPSERT_CHECKPOINT = """
INSERT INTO {checkpoints} (version, statement, checksum, last_key, keys_done, rows_touched, batches,
                           total_estimate, done, capture_table, elapsed_ms)
VALUES (%(version)s, %(statement)s, %(checksum)s, %(last_key)s, %(keys_done)s, %(rows_touched)s,
        %(batches)s, %(total_estimate)s, %(done)s, %(capture_table)s, %(elapsed_ms)s)
ON CONFLICT (version, statement) DO UPDATE SET
    checksum = EXCLUDED.checksum, last_key = EXCLUDED.last_key, keys_done = EXCLUDED.keys_done,
    rows_touched = EXCLUDED.rows_touched, batches = EXCLUDED.batches,
    total_estimate = EXCLUDED.total_estimate, done = EXCLUDED.done,
    capture_table = EXCLUDED.capture_table, elapsed_ms = EXCLUDED.elapsed_ms, updated_at = clock_timestamp()
"""
DELETE_CHECKPOINTS = "DELETE FROM {checkpoints} WHERE version = %(version)s"

# The table to page through: its schema-qualified name, the primary key, and column facts.
BATCH_TABLE = """
SELECT n.nspname, c.relname, c.reltuples::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass(%s) AND c.relkind IN ('r', 'p')
"""
PRIMARY_KEY_COLUMNS = """
SELECT a.attname
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %s::regclass AND i.indisprimary
ORDER BY k.ord
"""
TABLE_COLUMNS = """
SELECT a.attname, a.attnotnull, a.attgenerated <> '' AS generated, a.attidentity = 'a' AS identity_always
FROM pg_attribute a
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
# Is there a valid btree index whose leading columns are the key, in order? (else every lookup scans)
KEY_INDEX_EXISTS = """
SELECT EXISTS (
    SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
    WHERE i.indrelid = %(table)s::regclass AND i.indisvalid AND am.amname = 'btree'
      AND (i.indkey::int2[])[0:%(n)s - 1] = %(attnums)s::int2[]
)
"""
KEY_ATTNUMS = """
SELECT array_agg(a.attnum ORDER BY k.ord)::int2[]
FROM unnest(%(columns)s::text[]) WITH ORDINALITY AS k(name, ord)
JOIN pg_attribute a ON a.attrelid = %(table)s::regclass AND a.attname = k.name
"""
COUNT_ROWS = "SELECT count(*) FROM {table}"

# Keyset lookups: the first key after the last committed one, then the last key of the next `size`
# keys (an index range scan that starts at the first key and reads `size` entries), or the greatest
# key at the tail. {cols}: the key columns; {text_cols}: each cast to text; {after}: a row
# of parameters.
FIRST_KEY = "SELECT {text_cols} FROM {table} WHERE ({cols}) > ({after}) ORDER BY {cols} LIMIT 1"
FIRST_KEY_AT_START = "SELECT {text_cols} FROM {table} ORDER BY {cols} LIMIT 1"
LAST_KEY = """
SELECT {text_cols}, tail FROM (
    (SELECT {cols}, false AS tail FROM {table} WHERE ({cols}) >= ({start})
     ORDER BY {cols} OFFSET %(skip)s LIMIT 1)
    UNION ALL
    (SELECT {cols}, true FROM {table} WHERE ({cols}) >= ({start}) ORDER BY {cols_desc} LIMIT 1)
) k ORDER BY tail LIMIT 1
"""
COUNT_RANGE = "SELECT count(*) FROM {table} WHERE ({cols}) BETWEEN ({start}) AND ({end})"

# Throttling signals: the worst replica replay lag, and sessions of this database waiting on a lock.
REPLICATION_LAG = "SELECT coalesce(max(extract(epoch FROM replay_lag)), 0)::float8 FROM pg_stat_replication"
LOCK_WAITERS = """
SELECT count(*) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND datname = current_database() AND pid <> pg_backend_pid()
"""

# Capture of prior row values (batch capture: true), in the history schema, one table per migration:
# the source table's columns (LIKE, no constraints), which statement captured the row, and a sequence
# number so a restore takes, per key, the earliest value captured (the one from before the migration).
CREATE_CAPTURE = """
CREATE TABLE IF NOT EXISTS {capture} (
    LIKE {table},
    sqlmig_statement integer NOT NULL,
    sqlmig_seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY
)
"""
CREATE_CAPTURE_INDEX = "CREATE INDEX IF NOT EXISTS {index} ON {capture} ({cols}, sqlmig_seq)"
TRUNCATE_CAPTURE = "TRUNCATE {capture}"
DROP_CAPTURE = "DROP TABLE IF EXISTS {capture}"
# Locks the range's rows first (FOR UPDATE), so the values copied are the ones the statement changes.
CAPTURE_RANGE = """
INSERT INTO {capture} ({columns}, sqlmig_statement)
SELECT {columns}, %s FROM {table} WHERE ({cols}) BETWEEN ({start}) AND ({end}) FOR UPDATE
"""
# After the statement: keep only rows it touched. An updated row's new version carries this
# transaction's id as xmin; a deleted row has no live version any more. The range bound on the
# table keeps the join to the range's rows (without it the planner hashes the whole table per batch).
CAPTURE_PRUNE = """
DELETE FROM {capture} c USING {table} t
WHERE c.sqlmig_seq > %(seq_before)s AND ({t_cols}) BETWEEN ({start}) AND ({end}) AND ({c_cols}) = ({t_cols})
  AND t.xmin <> pg_current_xact_id()::xid
"""
CAPTURE_MAX_SEQ = "SELECT coalesce(max(sqlmig_seq), 0) FROM {capture}"
CAPTURE_SEQ_BOUND = """
SELECT sqlmig_seq FROM {capture} WHERE sqlmig_seq > %(after)s ORDER BY sqlmig_seq OFFSET %(skip)s LIMIT 1
"""
# Restore one slice of captured rows (by sequence number), each key to its earliest captured value:
# rows that still exist are updated, rows a DELETE removed are inserted back.
RESTORE_UPDATE = """
UPDATE {table} t SET ({set_cols}) = ROW({c_set_cols})
FROM {capture} c
WHERE c.sqlmig_seq > %(lo)s AND c.sqlmig_seq <= %(hi)s AND ({t_cols}) = ({c_cols})
  AND NOT EXISTS (SELECT 1 FROM {capture} e WHERE ({e_cols}) = ({c_cols}) AND e.sqlmig_seq < c.sqlmig_seq)
"""
RESTORE_INSERT = """
INSERT INTO {table} ({columns}) OVERRIDING SYSTEM VALUE
SELECT {c_columns} FROM {capture} c
WHERE c.sqlmig_seq > %(lo)s AND c.sqlmig_seq <= %(hi)s
  AND NOT EXISTS (SELECT 1 FROM {capture} e WHERE ({e_cols}) = ({c_cols}) AND e.sqlmig_seq < c.sqlmig_seq)
  AND NOT EXISTS (SELECT 1 FROM {table} t WHERE ({t_cols}) = ({c_cols}))
"""

# ---- schema snapshots (sqlmig.fingerprint). {snapshots} is <history_table>_snapshots in the history schema.
# One row per apply or rollback run that changed something: the fingerprint of the schema it left
# (zlib-compressed canonical JSON), the baseline `sqlmig drift` compares the live schema with.
CREATE_SNAPSHOTS = """
CREATE TABLE IF NOT EXISTS {snapshots} (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    taken_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    command        text NOT NULL,
    version        text,
    schema_hash    text NOT NULL,
    server_version integer NOT NULL,
    snapshot       bytea NOT NULL
)
"""
INSERT_SNAPSHOT = """
INSERT INTO {snapshots} (command, version, schema_hash, server_version, snapshot)
VALUES (%(command)s, %(version)s, %(schema_hash)s, %(server_version)s, %(snapshot)s)
"""
PRUNE_SNAPSHOTS = "DELETE FROM {snapshots} WHERE id <= (SELECT max(id) FROM {snapshots}) - %(keep)s"
LATEST_SNAPSHOT = """
SELECT id, taken_at, command, version, schema_hash, server_version, snapshot
FROM {snapshots} ORDER BY id DESC LIMIT 1
"""
SET_SCHEMA_HASH = "UPDATE {table} SET schema_hash = %(schema_hash)s WHERE version = %(version)s"
SET_BACKUP_FILE = "UPDATE {table} SET backup_file = %(backup_file)s WHERE version = %(version)s"


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
        self._prepared = 0  # statements this connection prepared for streams (streamed_record)

    def _q(self, template: str) -> Any:
        snapshots = self._sql.Identifier(self.schema, f"{self.table_name}_snapshots")
        return self._sql.SQL(template).format(table=self.table, schema=self._sql.Identifier(self.schema),
                                              snapshots=snapshots)  # fmt: skip

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
        """Who holds the migration lock, from pg_stat_activity (None when nobody does any more).

        PostgreSQL does not record when an advisory lock was taken: "connected since" is when
        the holder's session began (it holds the lock for its whole command), and a
        transaction in progress is shown with its start."""
        row = self.conn.execute(LOCK_HOLDER, {"key": self.key}).fetchone()
        if not row:
            return None
        pid, app, addr, user, backend_start, state, xact_start, query = row
        fmt = "%Y-%m-%d %H:%M:%S %Z"
        text = (f"pid {pid}, application_name '{app or ''}', user {user}, client {addr or 'local socket'}, "
                f"connected since {backend_start:{fmt}}, {state or 'state unknown'}")  # fmt: skip
        if xact_start:
            text += f" (transaction since {xact_start:{fmt}})"
        if state == "active" and query:
            text += f", running: {' '.join(query.split())[:80]}"
        return text.strip()

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
            self.conn.execute(self._q(CREATE_SNAPSHOTS))
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

    def update_checksums(self, version: str, checksums: dict[str, str | None], rollback_sql: str | None) -> None:
        """Record a reviewed migration's current checksums, and `rollback_sql` (when not None: its rollback
        file changed) as the SQL kept for `sqlmig rollback`, so the two agree."""
        self.conn.execute(
            self._q(UPDATE_CHECKSUMS),
            {
                "version": version,
                "checksum": checksums["up"],
                "rollback_checksum": checksums["rollback"],
                "manifest_checksum": checksums["manifest"],
                "rollback_sql": rollback_sql,
            },
        )

    def delete(self, version: str) -> None:
        self.conn.execute(self._q(DELETE_ROW), {"version": version})

    # ---- schema snapshots
    def record_snapshot(self, command: str, version: str | None, schema_hash: str, server_version: int,
                        snapshot: bytes, keep: int = 20) -> None:  # fmt: skip
        """Store the schema a run left (and its hash on the last migration's row); keep the newest `keep`."""
        row = {"command": command, "version": version, "schema_hash": schema_hash,
               "server_version": server_version, "snapshot": snapshot}  # fmt: skip
        self.conn.execute(self._q(INSERT_SNAPSHOT), row)
        self.conn.execute(self._q(PRUNE_SNAPSHOTS), {"keep": keep})
        if version is not None:
            self.conn.execute(self._q(SET_SCHEMA_HASH), {"schema_hash": schema_hash, "version": version})

    def latest_snapshot(self) -> tuple | None:
        """(id, taken_at, command, version, schema_hash, server_version, snapshot) or None when none was recorded."""
        name = f'"{self.schema}"."{self.table_name}_snapshots"'
        if not self.conn.execute(TABLE_EXISTS, (name,)).fetchone()[0]:
            return None
        return self.conn.execute(self._q(LATEST_SNAPSHOT)).fetchone()

    def set_backup_file(self, version: str, path: str) -> None:
        self.conn.execute(self._q(SET_BACKUP_FILE), {"backup_file": path, "version": version})

    @staticmethod
    def own_patterns(table: str) -> tuple[str, ...]:
        """LIKE patterns for sqlmig's own relations in the history schema: the history table and every
        <table>_* beside it (snapshots, checkpoints, captures, and their indexes and sequences)."""
        escaped = table.replace("_", "\\_")
        return (escaped, escaped + "\\_%")

    # ---- one migration's transaction
    def _literals(self, template: str, **values: Any) -> Any:
        lit = self._sql.Literal
        return self._sql.SQL(template).format(table=self.table, **{k: lit(v) for k, v in values.items()})

    @contextmanager
    def transaction(self, lock_timeout: str, statement_timeout: str) -> Iterator[None]:
        """BEGIN with SET LOCAL lock_timeout/statement_timeout, in one round trip.

        Any exception (Ctrl-C included) rolls the transaction back before it propagates; a
        normal exit commits, unless `record_run(..., commit=True)` already did.
        """
        self.conn.execute(self._literals(f"{BEGIN}; {SET_LOCAL_TIMEOUTS}", lock_timeout=lock_timeout,
                                         statement_timeout=statement_timeout))  # fmt: skip
        try:
            yield
        except BaseException:
            self.abort()
            raise
        if self.in_transaction():
            self.conn.execute(COMMIT)

    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return not self.conn.closed and self.conn.info.transaction_status in (
            TransactionStatus.INTRANS, TransactionStatus.INERROR)  # fmt: skip

    def abort(self) -> None:
        """ROLLBACK if a transaction is open; a broken connection is left to the server to clean up."""
        import psycopg

        try:
            if self.in_transaction():
                self.conn.execute(ROLLBACK)
        except psycopg.Error:
            pass

    def record_run(self, row: dict, status: str, duration_ms: int, error: str | None = None, *,
                   reset_session: bool = False, commit: bool = False) -> None:  # fmt: skip
        """Write a migration's history row (RECORD_RUN) in one round trip: after RESET_SESSION when the
        migration changed session state, and followed by COMMIT when `commit` (closing `transaction()`).
        When that query fails, `in_transaction()` says which part did: the server skips the rest of a query
        after an error, so a failed reset or row leaves the transaction open (aborted); a failed COMMIT
        (a deferred constraint or trigger) ends it."""
        parts = [RESET_SESSION] if reset_session else []
        parts.append(RECORD_RUN)
        if commit:
            parts.append(COMMIT)
        values = {**row, "status": status, "duration_ms": duration_ms, "error": error}
        self.conn.execute(self._literals(";".join(parts), **values))

    # ---- a streamed migration (sqlmig.stream): one statement per query, as bytes
    def streamed_begin(self, lock_timeout: str, statement_timeout: str, *, wait_for_flush: bool = True) -> list[bytes]:
        """BEGIN and SET LOCAL lock_timeout/statement_timeout (and synchronous_commit off, unless `wait_for_flush`)."""
        query = SET_LOCAL_TIMEOUTS if wait_for_flush else SET_LOCAL_TIMEOUTS_NO_FLUSH_WAIT
        timeouts = self._literals(query, lock_timeout=lock_timeout, statement_timeout=statement_timeout)
        return [BEGIN.encode(), timeouts.as_bytes(self.conn)]

    def streamed_record(self) -> tuple[bytes, bytes]:
        """(name, text) to prepare RECORD_RUN under for a stream's history rows: a name new on this
        connection (each stream prepares its own; they end with the session) and unlike any a
        migration would PREPARE."""
        self._prepared += 1
        name = f"sqlmig_record_run_{os.getpid()}_{self._prepared}"
        return name.encode(), self._q(RECORD_RUN_PREPARED).as_bytes(self.conn)

    def streamed_finish(self, row: dict, *, reset_session: bool) -> tuple[list[bytes], list[bytes | None], bytes]:
        """What ends a streamed migration: RESET_SESSION's statements (one query each) when it changed
        session state, the parameters of its `applied` row for the statement of streamed_record (its
        duration the server's since BEGIN, RETURNING it), and COMMIT."""
        resets = [q.encode() for q in RESET_SESSION_STATEMENTS] if reset_session else []
        values = {**row, "status": "applied", "duration_ms": None, "error": None}
        encoding = self.conn.info.encoding
        params = [None if values[n] is None else str(values[n]).encode(encoding) for n in RECORD_RUN_PARAMS]
        return resets, params, COMMIT.encode()

    def wait_for_flush(self) -> None:
        """Wait until the WAL written so far is on disk (a waiting commit of a transaction that took an id),
        after a stream whose commits did not wait; best effort: a connection that fails leaves it to the
        server's WAL writer."""
        import psycopg

        if self.conn.closed or self.conn.broken:
            return
        try:
            self.conn.execute(FLUSH_WAL)
        except psycopg.Error:
            self.abort()

    def set_timeouts(self, lock_timeout: str, statement_timeout: str) -> None:
        """Session-level timeouts for a `transaction: none` migration (undone by reset_session)."""
        self.conn.execute(self._literals(SET_SESSION_TIMEOUTS, lock_timeout=lock_timeout,
                                         statement_timeout=statement_timeout))  # fmt: skip

    def reset_session(self) -> None:
        self.conn.execute(RESET_SESSION)

    def session_defaults(self) -> None:
        self.conn.execute(SESSION_DEFAULTS)

    # ---- session settings
    def set_local(self, name: str, value: str) -> None:
        self.conn.execute(SET_LOCAL, (name, value))

    def set_session(self, name: str, value: str) -> None:
        self.conn.execute(SET_SESSION, (name, value))

    def server_info(self) -> tuple[int, str, str]:
        return tuple(self.conn.execute(SERVER_INFO).fetchone())  # type: ignore[return-value]
