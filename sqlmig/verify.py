"""`sqlmig verify`: round-trip every migration on a scratch database and compare fingerprints.

For each migration, in order: fingerprint, apply, fingerprint ("after"), roll back,
fingerprint and compare with the first ("does the rollback undo it?"), apply again,
fingerprint and compare with "after" ("can it be applied again?"). The migrations run
through the same Runner as `apply` (transactions, `transaction: none`, manifest verify
queries, batches), so what passes here is what production will run.

A point of no return is applied once. A migration with DML also gets the row count and
an order-independent checksum of each table it writes compared before apply and after
rollback: a difference is a warning (the rollback does not restore the data).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sqlmig import drift, postgres, schemadiff
from sqlmig.config import Settings
from sqlmig.errors import EXIT_DRIFT, EXIT_FAILED, EXIT_OK, ConnectionFailed, MigrationFailed, SqlmigError
from sqlmig.events import Sink, discard
from sqlmig.findings import Finding
from sqlmig.project import Migration, Project

CREATE_DATABASE = "CREATE DATABASE {name}"
DROP_DATABASE = "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
RESOLVE_TABLE = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass(%s) AND c.relkind IN ('r', 'p')
"""
# Row count and an order-independent checksum of a table's rows (md5 of the sorted row md5s).
TABLE_STATE = "SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) FROM {table} t"


@dataclass
class MigrationCheck:
    """What verify found for one migration."""

    version: str
    name: str
    status: str  # ok | warning | not_reversible | schema_differs | failed | applied (before --from)
    up: str  # display paths, for findings
    rollback: str | None
    rollback_changes: list[schemadiff.Change] = field(default_factory=list)  # after rollback vs before apply
    reapply_changes: list[schemadiff.Change] = field(default_factory=list)  # after re-apply vs after apply
    data_warnings: list[str] = field(default_factory=list)
    error: SqlmigError | None = None
    failed_step: str | None = None  # apply | rollback | re-apply
    reason: str | None = None  # a point of no return's reason
    duration_ms: int = 0

    @property
    def stem(self) -> str:
        return f"{self.version}_{self.name}"

    def to_dict(self) -> dict:
        return {
            "version": self.version, "name": self.name, "status": self.status, "duration_ms": self.duration_ms,
            "rollback_changes": [c.to_dict() for c in self.rollback_changes],
            "reapply_changes": [c.to_dict() for c in self.reapply_changes],
            "data_warnings": self.data_warnings, "point_of_no_return": self.reason,
            "failed_step": self.failed_step, "error": self.error.to_dict() if self.error else None,
        }  # fmt: skip

    def findings(self) -> list[Finding]:
        out = []
        for c in self.rollback_changes:
            out.append(Finding("verify/rollback-differs", c.severity, self.rollback or self.up, 1,
                               f"after rollback: {c.render()}", "the rollback does not restore the schema "
                               "the migration started from"))  # fmt: skip
        for c in self.reapply_changes:
            out.append(Finding("verify/reapply-differs", c.severity, self.up, 1, f"after re-apply: {c.render()}",
                               "applying again after the rollback does not give the same schema"))  # fmt: skip
        for w in self.data_warnings:
            out.append(Finding("verify/data-not-restored", "warning", self.rollback or self.up, 1, w))
        if self.error is not None:
            path, _, line = (self.error.where or self.up).rpartition(":")
            path, line = (path, int(line)) if line.isdigit() else (self.error.where or self.up, 1)
            server = f" [{self.error.server.sqlstate}: {self.error.server.message}]" if self.error.server else ""
            message = f"{self.failed_step} failed: {self.error.message}{server}"
            out.append(Finding(f"verify/{self.failed_step}-failed", "error", path, line, message, self.error.hint))
        return out


@dataclass
class VerifyResult:
    database: str  # where it ran, masked
    server_version: int
    checks: list[MigrationCheck]

    @property
    def exit_code(self) -> int:
        if any(c.status == "failed" for c in self.checks):
            return EXIT_FAILED
        if any(c.status == "schema_differs" for c in self.checks):
            return EXIT_DRIFT
        return EXIT_OK

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for c in self.checks:
            counts[c.status] = counts.get(c.status, 0) + 1
        names = {"ok": "round-tripped clean", "warning": "with warnings", "not_reversible": "not reversible by design",
                 "schema_differs": "with a different schema after rollback", "failed": "failed",
                 "applied": "applied once (before the range verified)"}  # fmt: skip
        return ", ".join(f"{n} {names[s]}" for s, n in counts.items()) or "no migrations"

    def findings(self) -> list[Finding]:
        return [f for c in self.checks for f in c.findings()]

    def to_dict(self) -> dict:
        return {"database": self.database, "server_version": self.server_version, "exit_code": self.exit_code,
                "summary": self.summary(), "migrations": [c.to_dict() for c in self.checks]}  # fmt: skip


@contextmanager
def scratch_database(settings: Settings, scratch_url: str | None) -> Iterator[tuple[str, str]]:
    """A new, empty database, dropped on exit: on `scratch_url`'s server, else on the embedded one.

    Yields (conninfo, description). The server must let this user CREATE DATABASE.
    """
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from sqlmig.db import check_url, mask_url, start_embedded

    server = None
    if scratch_url:
        check_url(scratch_url)  # a password libpq would misread: refused before it reaches any server
        admin, shown = scratch_url, mask_url(scratch_url)
    else:
        server = start_embedded(settings.project_dir / settings.embedded_dir)
        admin, shown = server.get_uri("postgres"), "the embedded PostgreSQL"
    dbname = f"sqlmig_verify_{uuid.uuid4().hex[:12]}"
    name = sql.Identifier(dbname)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL(CREATE_DATABASE).format(name=name))
    except psycopg.Error as exc:
        raise ConnectionFailed(f"cannot create a scratch database on {shown}", details=[str(exc).strip()],
                               hint="--scratch-url must name a server where this user may CREATE DATABASE",
                               ) from None  # fmt: skip
    try:
        yield make_conninfo(admin, dbname=dbname), f"a scratch database on {shown}"
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL(DROP_DATABASE).format(name=name))
    # `server` (the embedded one) stops when the last sqlmig process using it exits.


def _written_tables(m: Migration) -> set[str]:
    """Tables the migration's DML writes or truncates, and a batch's table."""
    names = {t for s in m.up.statements for t in postgres.written_tables(s)}
    if m.manifest.batch:
        names.add(m.manifest.batch.table)
    return names


def _table_states(conn: Any, names: set[str]) -> dict[str, tuple[int, str] | None]:
    """name -> (rows, checksum) for each table that exists now (tables the migration creates are skipped)."""
    from psycopg import sql

    out: dict[str, tuple[int, str] | None] = {}
    for name in sorted(names):
        row = conn.execute(RESOLVE_TABLE, (name,)).fetchone()
        if row is not None:
            out[name] = tuple(conn.execute(sql.SQL(TABLE_STATE).format(table=sql.Identifier(*row))).fetchone())
    return out


def _data_warnings(conn: Any, before: dict[str, tuple[int, str] | None]) -> list[str]:
    import psycopg

    out = []
    for name, (rows, digest) in before.items():  # type: ignore[misc]
        try:
            now = _table_states(conn, {name}).get(name)
        except psycopg.Error:
            now = None
        if now is None:
            out.append(f"table {name} is gone after the rollback (it held {rows} rows before the migration)")
        elif now[0] != rows:
            out.append(f"table {name}: {rows} rows before the migration, {now[0]} after its rollback")
        elif now[1] != digest:
            out.append(f"table {name}: same {rows} rows, but their values differ after the rollback "
                       "(the rollback does not restore the data the migration changed)")  # fmt: skip
    return out


class _RoundTrip:
    """Runs the round trips on one scratch connection (holding the migration lock)."""

    def __init__(self, migrator: Any, settings: Settings) -> None:
        from sqlmig.runner import Runner

        self.conn = migrator.conn
        self.settings = settings
        self.runner = Runner(migrator.conn, migrator.history, settings, migrator.emit)
        self.pg_version = migrator.history.server_info()[0]

    def fingerprint(self) -> Any:
        return drift.take(self.conn, self.settings)

    def run(self, m: Migration, direction: str) -> None:
        from sqlmig.planner import Step

        step = Step(m, direction)
        if direction == "up":
            self.runner.apply_step(step)
        else:
            self.runner.rollback_step(step)

    def check(self, m: Migration, before: Any) -> tuple[MigrationCheck, Any]:
        """Round-trip one migration; returns what was found and the fingerprint to start the next from."""
        check = MigrationCheck(m.version, m.name, "ok", m.up.display, m.rollback.display if m.rollback else None)
        written = _written_tables(m) if not m.point_of_no_return else set()
        data_before = _table_states(self.conn, written)
        stage = "apply"
        try:
            self.run(m, "up")
            after = self.fingerprint()
            if m.point_of_no_return:
                check.status, check.reason = "not_reversible", m.manifest.point_of_no_return.reason  # type: ignore[union-attr]
                return check, after
            stage = "rollback"
            self.run(m, "down")
            rolled = self.fingerprint()
            if rolled.hash != before.hash:
                check.rollback_changes = schemadiff.compare(before.snapshot, rolled.snapshot)
            check.data_warnings = _data_warnings(self.conn, data_before)
            stage = "re-apply"
            self.run(m, "up")
            again = self.fingerprint()
            if again.hash != after.hash:
                check.reapply_changes = schemadiff.compare(after.snapshot, again.snapshot)
        except MigrationFailed as exc:
            check.error, check.failed_step = exc, stage
            # A re-apply that fails after a rollback left the schema different is that difference's doing.
            differs = stage == "re-apply" and schemadiff.errors(check.rollback_changes)
            check.status = "schema_differs" if differs else "failed"
            return check, None
        changes = check.rollback_changes + check.reapply_changes
        if schemadiff.errors(changes):
            check.status = "schema_differs"
        elif changes or check.data_warnings:
            check.status = "warning"
        return check, again


def verify_project(project: Project, settings: Settings, *, scratch_url: str | None = None,
                   round_trip: set[str] | None = None, sink: Sink = discard,
                   on_check: Callable[[MigrationCheck], None] | None = None) -> VerifyResult:  # fmt: skip
    """Round-trip the project's migrations on a scratch database.

    `round_trip`: the versions to round-trip (None: all); the others are applied once, in
    order. Stops at the first migration that cannot be applied or rolled back (the ones
    after it would run on a schema nobody meant).
    """
    from sqlmig.migrator import Migrator

    checks: list[MigrationCheck] = []
    with scratch_database(settings, scratch_url) as (conninfo, shown):
        scratch = replace(settings, database_url=conninfo, database_url_source="scratch")
        with Migrator(scratch, sink, project) as migrator:
            migrator.lock()
            migrator.history.ensure()
            trip = _RoundTrip(migrator, scratch)
            current = None  # the schema's fingerprint, when known (a round trip ends with one)
            for m in project.migrations:
                t0 = time.perf_counter()
                if round_trip is not None and m.version not in round_trip:
                    check = MigrationCheck(m.version, m.name, "applied", m.up.display, None)
                    try:
                        trip.run(m, "up")
                    except MigrationFailed as exc:
                        check.status, check.error, check.failed_step = "failed", exc, "apply"
                    current = None
                else:
                    check, current = trip.check(m, current or trip.fingerprint())
                check.duration_ms = int((time.perf_counter() - t0) * 1000)
                checks.append(check)
                if on_check:
                    on_check(check)
                if check.status == "failed" or (check.status == "schema_differs" and current is None):
                    break
    return VerifyResult(shown, trip.pg_version, checks)
