"""Schema drift: objects changed outside sqlmig since the last apply or rollback.

After every apply or rollback run that executed something, sqlmig stores the fingerprint
of the schema it left (history.py: the snapshots table, and the hash on the history row
of the last migration). `detect()` compares the live schema with that baseline.

One fingerprint per run, taken at its end, rather than one per migration: recording is a
catalog read of the whole schema, and a run of 500 migrations would pay it 500 times for
a baseline only the last one is compared with.

When drift existed before a run and the run goes ahead (`apply` without `--strict`), the
new baseline carries it forward: objects the run touched take their new state, the others
keep their recorded state, so the hand-made change is still reported afterwards.

An INVALID index left by a failed CREATE INDEX CONCURRENTLY (or REINDEX CONCURRENTLY) is an
artifact of a failed build, not part of the schema: it never enters a baseline (nor is it
compared when an older baseline holds one) and is reported on its own, so dropping it, as
the failed run's hint says, is not drift. A snapshot is still recorded after a failed run,
because a `transaction: none` migration that failed halfway leaves real changes behind.
A partitioned index created ON ONLY the parent is INVALID by design until every partition's
index is attached; it stays in the baseline like any other index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlmig import fingerprint, schemadiff
from sqlmig.config import Settings
from sqlmig.errors import DriftError, MigrationFailed
from sqlmig.events import Note, Sink
from sqlmig.history import History


def take(conn: Any, settings: Settings) -> fingerprint.Fingerprint:
    """The live schema, without sqlmig's own tables.

    Reading an index's definition waits behind an ACCESS EXCLUSIVE lock on its table, so the
    read runs under `lock_timeout` and says who is in the way instead of hanging. BEGIN, the
    timeout, the catalog queries and COMMIT travel in one pipeline.
    """
    import psycopg

    try:
        with fingerprint.pipeline(conn), conn.transaction():
            History(conn, settings.history_schema, settings.history_table).set_local(
                "lock_timeout", settings.lock_timeout
            )
            return fingerprint.take(conn, settings.history_schema, History.own_patterns(settings.history_table))
    except psycopg.errors.LockNotAvailable as exc:
        from sqlmig.db import server_error

        raise MigrationFailed(
            f"cannot read the schema (for its fingerprint): a lock was not granted within lock_timeout "
            f"{settings.lock_timeout}",
            server=server_error(exc),
            hint="another session holds an ACCESS EXCLUSIVE lock (see pg_locks); retry when it is done",
        ) from None


@dataclass(frozen=True)
class Baseline:
    """The snapshot recorded by the last apply or rollback run, decoded only when it is read: when the
    live schema hashes as recorded there is nothing to compare object by object."""

    taken_at: datetime
    command: str
    version: str | None
    recorded_hash: str
    server_version: int
    blob: bytes = field(repr=False)

    @cached_property
    def _decoded(self) -> tuple[fingerprint.Snapshot, str]:
        snapshot, invalid = set_aside_invalid(fingerprint.decompress(self.blob))  # recorded by an older sqlmig
        return snapshot, fingerprint.schema_hash(snapshot) if invalid else self.recorded_hash

    @property
    def snapshot(self) -> fingerprint.Snapshot:
        return self._decoded[0]

    @property
    def schema_hash(self) -> str:
        """The recorded hash, or that of the snapshot without the INVALID indexes an older sqlmig recorded."""
        return self._decoded[1]

    def describe(self) -> str:
        after = f" of {self.version}" if self.version else ""
        return f"recorded by {self.command}{after} at {self.taken_at:%Y-%m-%d %H:%M:%S %Z}".rstrip()


@dataclass(frozen=True)
class InvalidIndex:
    """An index left INVALID by a failed concurrent build: maintained on every write, never read."""

    name: str
    definition: str

    def describe(self) -> str:
        return (f"index {self.name} is INVALID: a failed CREATE INDEX CONCURRENTLY (or REINDEX CONCURRENTLY) "
                "left it; PostgreSQL updates it on every write but never uses it. Drop it (DROP INDEX "
                f"CONCURRENTLY {self.name}) and rerun the migration that builds it, or rebuild it in place "
                f"(REINDEX INDEX CONCURRENTLY {self.name})")  # fmt: skip

    def to_dict(self) -> dict:
        return {"name": self.name, "definition": self.definition}


def set_aside_invalid(snapshot: fingerprint.Snapshot) -> tuple[fingerprint.Snapshot, list[InvalidIndex]]:
    """The snapshot without indexes a failed concurrent build left INVALID, and those indexes.

    A partitioned index (pg_get_indexdef says `ON ONLY`) is INVALID until every partition's
    index is attached: a state a migration chose, so it stays.
    """
    indexes = snapshot.get("index", {})

    def failed_build(attrs: dict) -> bool:
        return bool(attrs.get("invalid")) and " ON ONLY " not in attrs.get("definition", "").split(" USING ")[0]

    invalid = [InvalidIndex(n, a.get("definition", "")) for n, a in sorted(indexes.items()) if failed_build(a)]
    if not invalid:
        return snapshot, []
    gone = {i.name for i in invalid}
    kept = {name: attrs for name, attrs in indexes.items() if name not in gone}
    out = {kind: objects for kind, objects in snapshot.items() if kind != "index"}
    if kept:
        out["index"] = kept
    return out, invalid


def baseline(history: History) -> Baseline | None:
    row = history.latest_snapshot()
    if row is None:
        return None
    _id, taken_at, command, version, schema_hash, server_version, blob = row
    return Baseline(taken_at, command, version, schema_hash, server_version, bytes(blob))


@dataclass(frozen=True)
class DriftReport:
    baseline: Baseline
    live: fingerprint.Fingerprint  # without INVALID indexes (see `invalid`)
    changes: list[schemadiff.Change]
    invalid: list[InvalidIndex] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.changes)

    def notes(self) -> list[str]:
        """Caveats a reader needs: a baseline taken on another major version compares catalogs that differ."""
        old, new = self.baseline.server_version // 10000, self.live.server_version // 10000
        if old != new:
            return [f"the baseline was recorded on PostgreSQL {old} and the server runs {new}: view definitions "
                    "and extension versions read differently across major versions; after review run "
                    "`sqlmig drift --accept`"]  # fmt: skip
        return []

    def to_dict(self) -> dict:
        return {"drift": self.drifted, "baseline": {"taken_at": self.baseline.taken_at.isoformat(),
                "command": self.baseline.command, "version": self.baseline.version,
                "schema_hash": self.baseline.schema_hash}, "live_hash": self.live.hash,
                "changes": [c.to_dict() for c in self.changes], "notes": self.notes(),
                "invalid_indexes": [i.to_dict() for i in self.invalid]}  # fmt: skip


def detect(conn: Any, history: History, settings: Settings) -> DriftReport | None:
    """Compare the live schema with the last recorded snapshot; None when none was recorded yet."""
    base = baseline(history)
    if base is None:
        return None
    live, invalid = _comparable(take(conn, settings))
    # The live schema (INVALID indexes set aside) hashing as recorded means the recorded snapshot holds
    # none either: no need to decode it.
    same = live.hash == base.recorded_hash or live.hash == base.schema_hash
    changes = [] if same else schemadiff.compare(base.snapshot, live.snapshot)
    return DriftReport(base, live, changes, invalid)


def _comparable(taken: fingerprint.Fingerprint) -> tuple[fingerprint.Fingerprint, list[InvalidIndex]]:
    snapshot, invalid = set_aside_invalid(taken.snapshot)
    return (fingerprint.Fingerprint(snapshot, taken.server_version) if invalid else taken), invalid


def carry_forward(baseline: fingerprint.Snapshot, before: fingerprint.Snapshot,
                  after: fingerprint.Snapshot) -> fingerprint.Snapshot:  # fmt: skip
    """The baseline with the run's own changes (before → after) applied, and nothing else."""
    out = {kind: dict(objects) for kind, objects in baseline.items()}
    for kind in set(before) | set(after):
        b, a = before.get(kind, {}), after.get(kind, {})
        for name in set(b) | set(a):
            if b.get(name) == a.get(name):
                continue
            if name in a:
                out.setdefault(kind, {})[name] = a[name]
            else:
                out.get(kind, {}).pop(name, None)
    return {kind: objects for kind, objects in out.items() if objects}


def record(conn: Any, history: History, settings: Settings, command: str, version: str | None,
           before: DriftReport | None = None) -> str:  # fmt: skip
    """Store the schema a run left as the new baseline (INVALID indexes set aside); returns its hash."""
    after, _ = _comparable(take(conn, settings))
    if before is not None and before.drifted:
        snap = carry_forward(before.baseline.snapshot, before.live.snapshot, after.snapshot)
        after = fingerprint.Fingerprint(snap, after.server_version)
    # BEGIN, the snapshot row, the prune, the hash on the history row and COMMIT: one round trip.
    with fingerprint.pipeline(conn), conn.transaction():
        history.record_snapshot(command, version, after.hash, after.server_version, after.compress())
    return after.hash


@dataclass(frozen=True)
class DriftCheck:
    database: str  # masked, for the "using" line
    report: DriftReport | None  # None: no baseline recorded yet
    accepted: str | None = None  # the new baseline's hash after --accept


def check_database(settings: Settings, *, accept: bool = False) -> DriftCheck:
    """`sqlmig drift`: compare the live schema with the baseline; with `accept`, then record the live
    schema as the new baseline (under the migration lock, so no apply runs meanwhile)."""
    from sqlmig.db import connect, resolve_target

    target = resolve_target(settings)
    conn = connect(target, settings)
    history = History(conn, settings.history_schema, settings.history_table)
    shown = f"{target.shown} ({target.source})"
    try:
        report = detect(conn, history, settings)
        if not accept:
            return DriftCheck(shown, report)
        history.acquire_lock(settings.lock_wait)
        history.ensure()
        return DriftCheck(shown, report, record(conn, history, settings, "drift --accept", None))
    finally:
        history.release_lock()
        conn.close()


class SchemaWatch:
    """What apply and rollback do about drift: check before the run, record after it."""

    def __init__(self, conn: Any, history: History, settings: Settings, emit: Sink) -> None:
        self.conn, self.history, self.settings, self.emit = conn, history, settings, emit
        self.before: DriftReport | None = None

    def check(self, strict: bool) -> None:
        """Warn about drift (one note per change), or raise DriftError when `strict`; warn about INVALID
        indexes either way (they are not drift: a failed build left them)."""
        self.before = detect(self.conn, self.history, self.settings)
        if self.before is None:
            return
        for index in self.before.invalid:
            self.emit(Note("warning", index.describe()))
        if not self.before.drifted:
            return
        lines = [c.render() for c in self.before.changes] + self.before.notes()
        what = f"the schema changed outside sqlmig since the last run ({self.before.baseline.describe()})"
        if strict:
            raise DriftError(what, details=lines, hint="see `sqlmig drift`; undo the changes or write a migration "
                             "for them, or after review run `sqlmig drift --accept`")  # fmt: skip
        self.emit(Note("warning", f"{what}:\n  " + "\n  ".join(lines)))

    def record(self, command: str, version: str | None, *, quiet: bool = False) -> None:
        """Record the new baseline. `quiet` (after a failed run): a failure to record must not hide
        the migration's own error, so it is dropped; the next run records again."""
        import psycopg

        if self.conn.closed or self.conn.broken:
            return
        try:
            record(self.conn, self.history, self.settings, command, version, self.before)
        except psycopg.Error:
            if not quiet:
                raise
