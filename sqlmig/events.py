"""Typed progress events. The runner emits them; the CLI renders them (text on a terminal, JSON lines).

Each event is a frozen dataclass with a stable `kind`; `to_dict()` is the JSON-lines
shape that log shippers rely on, so fields are only ever added, never renamed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"
    at: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict:
        return {"event": self.kind, **asdict(self)}


Sink = Callable[[Event], None]


def discard(_: Event) -> None:
    """A sink that ignores events (the library default)."""


@dataclass(frozen=True)
class LockWaiting(Event):
    kind: ClassVar[str] = "lock_waiting"
    holder: str | None


@dataclass(frozen=True)
class LockAcquired(Event):
    kind: ClassVar[str] = "lock_acquired"
    waited_ms: int


@dataclass(frozen=True)
class MigrationStarted(Event):
    kind: ClassVar[str] = "migration_started"
    version: str
    name: str
    direction: str
    statements: int
    transactional: bool
    resume_from: int = 0
    batched: bool = False  # key ranges, each in its own transaction (sqlmig.batch)
    restores_captured: bool = False  # a rollback that first restores captured rows (sqlmig.batch)


@dataclass(frozen=True)
class StatementStarted(Event):
    kind: ClassVar[str] = "statement_started"
    version: str
    index: int
    path: str
    line: int
    first_line: str


@dataclass(frozen=True)
class StatementDone(Event):
    kind: ClassVar[str] = "statement_done"
    version: str
    index: int
    duration_ms: int


@dataclass(frozen=True)
class Retrying(Event):
    kind: ClassVar[str] = "retrying"
    version: str
    attempt: int
    of: int
    delay_s: float
    reason: str
    where: str = ""  # file:line of the statement that waited ("" when it was the COMMIT or a verify query)
    statement: str = ""  # its first line
    blockers: tuple[str, ...] = ()  # sessions holding a conflicting lock on its tables just after the timeout


@dataclass(frozen=True)
class MigrationDone(Event):
    kind: ClassVar[str] = "migration_done"
    version: str
    name: str
    direction: str
    duration_ms: int


@dataclass(frozen=True)
class MigrationFailedEvent(Event):
    kind: ClassVar[str] = "migration_failed"
    version: str
    name: str
    direction: str
    error: str
    rolled_back: bool


@dataclass(frozen=True)
class Note(Event):
    kind: ClassVar[str] = "note"
    level: str  # info | warning
    message: str


# ---- batched data migrations (sqlmig.batch). Each renders itself as one text line for logs;
# on a terminal the CLI shows a progress bar instead of the per-batch lines.


def _key(key: list[str] | None) -> str:
    return "-" if key is None else (key[0] if len(key) == 1 else f"({', '.join(key)})")


@dataclass(frozen=True)
class BatchStarted(Event):
    kind: ClassVar[str] = "batch_started"
    version: str
    statement: int  # 1-based
    statements: int
    table: str
    key: list[str]
    size: int
    total_estimate: int
    keys_done: int
    resume_after: list[str] | None  # the last key of the committed ranges, when resuming
    sql: str  # the exact text sent per range

    def render_text(self) -> str:
        resume = f", resuming after {'/'.join(self.key)} {_key(self.resume_after)}" if self.resume_after else ""
        return (f"  statement {self.statement}/{self.statements}: batches over {self.table}({', '.join(self.key)}), "
                f"~{self.total_estimate} rows, starting at {self.size} per batch{resume}")  # fmt: skip


@dataclass(frozen=True)
class BatchDone(Event):
    kind: ClassVar[str] = "batch_done"
    version: str
    statement: int
    batch: int
    start_key: list[str]
    end_key: list[str]
    keys: int  # keys in the range
    rows: int  # rows the statement reported (UPDATE/DELETE/INSERT count)
    size: int  # the batch size asked for
    duration_ms: float
    keys_done: int
    total_estimate: int
    rows_touched: int  # all batches of this statement so far

    def render_text(self) -> str:
        pct = f" ({100 * self.keys_done / self.total_estimate:.0f}%)" if self.total_estimate else ""
        return (f"    batch {self.batch}: {_key(self.start_key)}..{_key(self.end_key)}, {self.rows} rows in "
                f"{self.duration_ms:.0f} ms{pct}")  # fmt: skip


@dataclass(frozen=True)
class BatchResized(Event):
    kind: ClassVar[str] = "batch_resized"
    version: str
    old_size: int
    new_size: int
    reason: str

    def render_text(self) -> str:
        return f"    batch size {self.old_size} -> {self.new_size} ({self.reason})"


@dataclass(frozen=True)
class BatchThrottled(Event):
    kind: ClassVar[str] = "batch_throttled"
    version: str
    reason: str  # replication_lag | lock_waiters
    detail: str
    sleep_s: float
    size: int

    def render_text(self) -> str:
        return f"    throttled: {self.detail}; pausing {self.sleep_s:g}s, batch size {self.size}"


@dataclass(frozen=True)
class BatchRetry(Event):
    kind: ClassVar[str] = "batch_retry"
    version: str
    attempt: int
    of: int
    sqlstate: str
    reason: str
    delay_s: float
    size: int

    def render_text(self) -> str:
        return (f"    batch rolled back ({self.sqlstate}: {self.reason}); retry {self.attempt}/{self.of} in "
                f"{self.delay_s:g}s with {self.size} rows")  # fmt: skip


@dataclass(frozen=True)
class BatchSummary(Event):
    kind: ClassVar[str] = "batch_summary"
    version: str
    name: str
    rows_touched: int
    keys: int
    batches: int
    retries: int
    throttles: int
    duration_ms: int
    avg_batch_ms: float
    p95_batch_ms: float
    stopped: str | None = None  # None: complete; interrupted | max_rows | failed
    # The migration as a whole: a resumed run adds to what earlier runs did (from the checkpoints).
    resumed: bool = False
    total_rows_touched: int = 0
    total_batches: int = 0
    total_duration_ms: int = 0  # every run's time, not the time between runs

    def render_text(self) -> str:
        state = "done" if self.stopped is None else f"stopped ({self.stopped})"
        run = f"{self.rows_touched} rows touched in {self.batches} batches"
        if self.resumed:
            run = (f"{run} this run ({_seconds(self.duration_ms)}), {self.total_rows_touched} rows touched in "
                   f"{self.total_batches} batches over all runs ({_seconds(self.total_duration_ms)})")  # fmt: skip
        else:
            run = f"{run} in {_seconds(self.duration_ms)}"
        return (f"  {state}: {run}; {self.retries} retries, {self.throttles} throttles; "
                f"batch avg {self.avg_batch_ms:.0f} ms, p95 {self.p95_batch_ms:.0f} ms")  # fmt: skip


@dataclass(frozen=True)
class RestoreProgress(Event):
    kind: ClassVar[str] = "restore_progress"
    version: str
    done_seq: int  # captured rows are restored in slices by sequence number: up to this one
    last_seq: int

    def render_text(self) -> str:
        return f"    restoring captured rows: {100 * self.done_seq / max(self.last_seq, 1):.0f}%"


@dataclass(frozen=True)
class RestoreDone(Event):
    kind: ClassVar[str] = "restore_done"
    version: str
    updated: int
    inserted: int
    capture_table: str
    rows: int = 0  # updated + inserted
    duration_ms: int = 0

    def render_text(self) -> str:
        return (f"  restored {self.rows:,} captured rows from {self.capture_table} in {_seconds(self.duration_ms)} "
                f"({self.updated:,} updated, {self.inserted:,} re-inserted)")  # fmt: skip


def _seconds(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f}s"
