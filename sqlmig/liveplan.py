"""A plan that reads the live database: each statement's locks, on tables of what size, behind whom.

The lock a statement takes, and whether it rewrites or scans, come from
postgres.lock_effects (the one place for lock levels). This module adds what only the
live database knows: the table's size and estimated rows (pg_class), and the sessions
that hold or wait for a conflicting lock on it right now (pg_locks, pg_stat_activity):
the statement would queue behind them, and every later query on the table behind it.

Read-only catalog queries; `plan` and `apply --dry-run` stay side-effect free.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmig import postgres
from sqlmig.errors import UsageError

TABLE_SIZE = """
SELECT n.nspname, c.relname, {size}, c.reltuples::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)
"""
# pg_total_relation_size takes ACCESS SHARE on the table: behind another session's ACCESS EXCLUSIVE
# it would wait for as long as that session holds it, so the read gives up quickly and goes without.
SIZE_LOCK_TIMEOUT = "SET LOCAL lock_timeout = '100ms'"
# Other sessions' locks on the relation, granted or queued (a queued request goes first too);
# pg_locks says 'AccessShareLock', postgres.conflicts speaks 'ACCESS SHARE'.
LOCKERS = """
SELECT l.pid, upper(regexp_replace(regexp_replace(l.mode, 'Lock$', ''), '([a-z])([A-Z])', '\\1 \\2', 'g')),
       l.granted, a.application_name, a.usename, a.state,
       extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.query_start))::bigint,
       left(regexp_replace(a.query, '\\s+', ' ', 'g'), 120)
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.relation = to_regclass(%s) AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY l.granted DESC, a.xact_start NULLS LAST
"""
HEAVY = ("ACCESS EXCLUSIVE", "SHARE")  # the modes the size warning is about
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|TB)?\s*$")
_UNITS = {None: 1, "B": 1, "kB": 1024, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_size(text: str) -> int:
    """'100MB' -> bytes (PostgreSQL's units: 1 kB = 1024 bytes)."""
    match = _SIZE.match(str(text))
    if not match:
        raise UsageError(f"large_table_size: {text!r} is not a size", hint="write e.g. 500MB, 2GB or 1TB")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def human_size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


@dataclass(frozen=True)
class Blocker:
    pid: int
    mode: str
    granted: bool
    application: str
    user: str
    state: str | None
    seconds: int | None  # in its transaction (or query) for this long
    query: str

    def describe(self) -> str:
        held = "holds" if self.granted else "is queued for"
        age = f", in its transaction for {self.seconds}s" if self.seconds is not None else ""
        return (f"pid {self.pid} ({self.application or 'no application_name'}, user {self.user}, "
                f"{self.state or 'unknown state'}{age}) {held} {self.mode}: {self.query}")  # fmt: skip


@dataclass(frozen=True)
class TableLock:
    """One relation a statement locks, as the live database sees it."""

    table: str
    lock: str
    blocks: str  # what the lock makes others wait for, in words
    rewrite: bool
    scan: bool
    exists: bool
    size_bytes: int | None = None
    rows_estimate: int | None = None  # None: never analyzed
    blockers: list[Blocker] = field(default_factory=list)

    def describe(self) -> str:
        what = [f"{self.lock} on {self.table} (blocks {self.blocks})"]
        if self.rewrite:
            what.append("rewrites the table")
        elif self.scan:
            what.append("scans the table")
        if not self.exists:
            what.append("new table")
        elif self.size_bytes is not None:
            rows = f"~{self.rows_estimate:,} rows" if self.rows_estimate is not None else "rows unknown (not analyzed)"
            what.append(f"{human_size(self.size_bytes)}, {rows}")
        else:
            what.append("size unknown: another session's lock keeps it from being read")
        return "; ".join(what)


def _table_facts(conn: Any, table: str) -> Any:
    """(schema, name, total size or None when another session's lock keeps it from being read, rows)."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute(SIZE_LOCK_TIMEOUT)
            return conn.execute(TABLE_SIZE.format(size="pg_total_relation_size(c.oid)"), (table,)).fetchone()
    except psycopg.errors.LockNotAvailable:
        return conn.execute(TABLE_SIZE.format(size="NULL::bigint"), (table,)).fetchone()


def _table_lock(conn: Any, effect: Any, seen: dict[str, Any] | None = None) -> TableLock:
    """`seen`: what was read for each table during one plan, so a table that many statements touch
    (a new table and its indexes; a table altered by many migrations) costs its round trips once."""
    facts = seen.get(effect.table) if seen is not None else None
    if facts is None:
        row = _table_facts(conn, effect.table)
        lockers = [] if row is None else [Blocker(*r) for r in conn.execute(LOCKERS, (effect.table,)).fetchall()]
        facts = row, lockers
        if seen is not None:
            seen[effect.table] = facts
    row, lockers = facts
    common = {"lock": effect.mode, "blocks": effect.blocks, "rewrite": effect.rewrite, "scan": effect.scan}
    if row is None:
        return TableLock(effect.table, exists=False, **common)
    nsp, rel, size, tuples = row
    blockers = [b for b in lockers if postgres.conflicts(b.mode, effect.mode)]
    name = rel if nsp == "public" else f"{nsp}.{rel}"
    return TableLock(name, exists=True, size_bytes=size, rows_estimate=tuples if tuples >= 0 else None,
                     blockers=blockers, **common)  # fmt: skip


def blockers_of(conn: Any, stmt: Any, pg_version: int) -> list[Blocker]:
    """Sessions that hold (or queue for) a lock conflicting with one `stmt` takes, right now; the runner
    names them when a statement hit its lock_timeout. A row lock's holder is not seen here."""
    return [b for e in postgres.lock_effects(stmt, pg_version=pg_version) for b in _table_lock(conn, e).blockers]


def annotate(conn: Any, plan: Any, statements_of: Any, settings: Any, data: dict) -> None:
    """Add each statement's `live` locks to the plan dict (plan_to_dict's shape) and `live_warnings`."""
    version = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0] // 10000
    limit = parse_size(settings.large_table_size)
    warnings: list[str] = []
    seen: dict[str, Any] = {}
    for step, step_data in zip(plan.steps, data["steps"], strict=True):
        statements, _ = statements_of(step)
        for stmt, st_data in zip(statements, step_data["statements"], strict=False):
            locks = [_table_lock(conn, e, seen) for e in postgres.lock_effects(stmt, pg_version=version)]
            st_data["live"] = [asdict(t) for t in locks]
            where = f"{stmt.path}:{stmt.line}"
            for t in locks:
                if t.lock in HEAVY and t.size_bytes is not None and t.size_bytes > limit:
                    warnings.append(f"{where} takes {t.lock} on {t.table} ({human_size(t.size_bytes)}, over "
                                    f"large_table_size {settings.large_table_size}): it blocks {t.blocks} "
                                    f"for as long as it runs")  # fmt: skip
                for b in t.blockers:
                    warnings.append(f"{where} would queue behind {b.describe()}")
    data["live_warnings"] = warnings


def live_lines(statement: dict) -> list[str]:
    """Text lines for one annotated statement of the plan dict."""
    out = []
    for t in statement.get("live", []):
        lock = TableLock(**{**t, "blockers": [Blocker(**b) for b in t["blockers"]]})
        out.append(f"          locks {lock.describe()}")
        out += [f"          ! waits for {b.describe()}" for b in lock.blockers]
    return out
