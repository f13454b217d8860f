"""Runs one batched migration: range after range, each in its own transaction with its checkpoint.

Per range: find the first key after the checkpoint and the key `size - 1` entries later,
copy prior values (capture: true), run the author's statement with the two keys bound,
advance the checkpoint, commit. Then adapt the size toward `target_ms`, sleep `sleep_ms`,
and look at the server (replica lag, sessions waiting on locks) before the next range.
A lock timeout, deadlock or serialization failure rolls the range back, cuts the size to
a quarter and retries it. Ctrl-C stops after the current range commits (a second Ctrl-C
stops at once, rolling the current range back). The history row says 'running' until
every range of every statement is done and the verify queries pass.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from sqlmig.batch.bounds import Bounded, bound_statements
from sqlmig.batch.capture import Capture, capture_table_name
from sqlmig.batch.checkpoints import Checkpoint, Checkpoints, percent_done
from sqlmig.batch.keyset import KeyedTable, Keyset, resolve_table
from sqlmig.errors import BatchInterrupted, BatchPaused, DriftError
from sqlmig.events import (
    BatchDone,
    BatchResized,
    BatchRetry,
    BatchStarted,
    BatchSummary,
    BatchThrottled,
    MigrationDone,
    MigrationStarted,
)
from sqlmig.history import LOCK_WAITERS, REPLICATION_LAG
from sqlmig.project import check_statements

# SQLSTATEs after which a range is rolled back, shrunk and retried: lock_not_available (lock_timeout),
# deadlock_detected, serialization_failure.
RETRYABLE = {"55P03": "lock timeout", "40P01": "deadlock", "40001": "serialization failure"}
LOCK_WAITERS_LIMIT = 5  # sessions of this database waiting on locks before sqlmig slows down
THROTTLE_CHECK_S = 1.0  # look at replicas and lock waiters at most this often
MAX_THROTTLE_S = 60.0  # throttling never holds a range back longer than this in one go
MAX_RETRY_DELAY_S = 30.0


class BatchRun:
    """One batched migration step, driven by the Runner that dispatched it."""

    def __init__(self, runner: Any, step: Any) -> None:
        self.runner = runner
        self.step = step
        self.m = step.migration
        self.batch = self.m.manifest.batch
        self.conn = runner.conn
        self.emit = runner.emit
        self.sleep = runner.sleep
        self.settings = runner.settings
        self.size = self.batch.size
        self.stop_requested = False
        self.durations: list[float] = []
        self.retries = self.throttles = self.batches = self.rows = self.keys = 0
        self._last_check = 0.0
        self.resumed = False
        self.prior_ms = 0  # time earlier runs spent, from the checkpoints (a resumed run adds its own)
        self.finished_ms: int | None = None
        self.latest: dict[int, Checkpoint] = {}  # each statement's checkpoint as last committed

    # ------------------------------------------------------------------ setup
    def prepare(self) -> tuple[KeyedTable, list[Bounded]]:
        """Resolve the table and key and bound every statement; raises before anything changes."""
        table = resolve_table(self.conn, self.batch, self.m.manifest_display)
        return table, bound_statements(check_statements(self.m), self.batch, table.key)

    def run(self) -> Any:
        from sqlmig.runner import StepResult

        m, step = self.m, self.step
        table, bounded = self.prepare()
        store = Checkpoints(self.conn, self.settings)
        store.ensure()
        saved = store.read(m.version)
        resuming = (step.applied is not None and step.applied.status in ("running", "failed")
                    and any(cp.started for cp in saved.values()))  # fmt: skip
        capture = None
        if self.batch.capture:
            name = capture_table_name(self.settings.history_table, m.version, m.name)
            capture = Capture(self.conn, self.settings.history_schema, name, table)
        if resuming:
            self._check_unchanged(bounded, saved)
        else:
            store.delete(m.version)
            saved = {}
        self.resumed, self.latest = resuming, dict(saved)
        self.prior_ms = sum(cp.elapsed_ms for cp in saved.values())
        if capture:
            capture.create(empty=not resuming)
        lock, stmt_timeout, retries = self.runner._timeouts(step)
        statements = [b.statement for b in bounded]
        done_before = sum(1 for cp in saved.values() if cp.done)
        self.emit(MigrationStarted(m.version, m.name, "up", len(bounded), False, done_before, batched=True))
        row = self.runner._history_row(step, statements, done_before)
        row["transaction_mode"] = "batch"
        self.runner.history.start(row)
        t0 = time.perf_counter()
        previous = self._install_sigint()
        stopped: str | None = "failed"
        try:
            for i, b in enumerate(bounded):
                cp = saved.get(i) or Checkpoint(m.version, i, b.checksum, total_estimate=table.estimate,
                                                capture_table=capture.shown if capture else None)  # fmt: skip
                if not cp.done:
                    self._run_statement(table, b, cp, len(bounded), store, capture, lock, stmt_timeout, retries)
                    self.runner.history.progress(m.version, i + 1, None)
            stopped = None
            self._finish(step, statements, t0)
        except (BatchInterrupted, BatchPaused) as exc:
            stopped = "interrupted" if isinstance(exc, BatchInterrupted) else "max_rows"
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            ms = self.finished_ms if self.finished_ms is not None else int((time.perf_counter() - t0) * 1000)
            self._summary(ms, stopped)
        self.emit(MigrationDone(m.version, m.name, "up", ms))
        return StepResult(m.version, m.name, "up", ms)

    def _check_unchanged(self, bounded: list[Bounded], saved: dict[int, Checkpoint]) -> None:
        for i, cp in saved.items():
            if cp.started and (i >= len(bounded) or bounded[i].checksum != cp.checksum):
                where = bounded[i].statement.where if i < len(bounded) else self.m.up.display
                raise DriftError(
                    f"statement {i + 1} of a batched migration was edited after some of its ranges committed",
                    where=where,
                    hint="restore it as it was to resume, or after checking the data run `sqlmig repair` "
                    "to clear the run and start the migration from its first range",
                )

    def _finish(self, step: Any, statements: list, t0: float) -> None:
        import psycopg

        from sqlmig.runner import _VerifyFailed

        m = self.m
        stage = "verify"
        try:
            with self.conn.transaction():
                self.runner._run_verify(step)
                ms = int((time.perf_counter() - t0) * 1000)
                stage = "history"
                self.runner.history.applied(m.version, self.prior_ms + ms, len(statements), None)  # every run
                stage = "commit"  # on leaving the block
            self.finished_ms = ms
        except (psycopg.Error, _VerifyFailed) as exc:
            self.runner.history.failed(m.version, int((time.perf_counter() - t0) * 1000),
                                       self.runner._error_text(None, exc))  # fmt: skip
            fix = "what refused the row" if stage == "history" else "the data"
            raise self.runner._failure(step, None, exc, rolled_back=False, stage=stage,
                                       resume_note=f"every range committed and stays; fix {fix} and run apply "
                                       "again (it reruns only the verify queries)") from None  # fmt: skip

    # ------------------------------------------------------------------ one statement
    def _run_statement(self, table: KeyedTable, b: Bounded, cp: Checkpoint, count: int, store: Checkpoints,
                       capture: Capture | None, lock: str, stmt_timeout: str, retries: int) -> None:  # fmt: skip
        import psycopg

        keyset = Keyset(table)
        text = b.server_text(len(table.key))
        began, spent_before = time.perf_counter(), cp.elapsed_ms

        def elapsed() -> int:  # this statement's time over every run, saved with each range
            return spent_before + int((time.perf_counter() - began) * 1000)

        self.emit(BatchStarted(self.m.version, cp.statement + 1, count, table.shown, list(table.key), self.size,
                               cp.total_estimate or 0, cp.keys_done, cp.last_key, text))  # fmt: skip
        attempt = 0
        while True:
            try:
                self._between_batches()  # its server checks can meet a lost connection too
                t0 = time.perf_counter()
                with self.conn.transaction():
                    self.runner.history.set_local("lock_timeout", lock)
                    self.runner.history.set_local("statement_timeout", stmt_timeout)
                    start = keyset.first(self.conn, cp.last_key)
                    if start is None:
                        self.latest[cp.statement] = cp.advanced(done=True, elapsed_ms=elapsed())
                        store.save(self.latest[cp.statement])
                        return
                    if self.batch.max_rows and self.keys >= self.batch.max_rows:  # only when work is left
                        raise BatchPaused(
                            f"{self.m.version}_{self.m.name} stopped after max_rows ({self.batch.max_rows}) "
                            "for this run", hint="run `sqlmig apply` again to continue; `sqlmig status` shows "
                            "how far it got",
                        )  # fmt: skip
                    end, tail = keyset.last(self.conn, start, self.size)
                    keys = keyset.count(self.conn, start, end) if tail else self.size
                    seq = capture.before(cp.statement, start, end) if capture else 0
                    cur = psycopg.RawCursor(self.conn)
                    cur.execute(text, b.params(start, end))
                    rows = max(cur.rowcount, 0)
                    if capture:
                        capture.after(seq, start, end)
                    new = cp.advanced(last_key=end, keys_done=cp.keys_done + keys, rows_touched=cp.rows_touched + rows,
                                      batches=cp.batches + 1, elapsed_ms=elapsed())  # fmt: skip
                    store.save(new)
            except psycopg.Error as exc:
                if exc.sqlstate in RETRYABLE and attempt < retries and not self.conn.broken:
                    attempt += 1
                    self._retry(exc, attempt, retries)
                    continue
                raise self._failed(b, cp, exc) from None
            attempt = 0
            ms = (time.perf_counter() - t0) * 1000
            cp = self.latest[cp.statement] = new
            self.batches += 1
            self.rows += rows
            self.keys += keys
            if len(self.durations) < 100_000:
                self.durations.append(ms)
            self.emit(BatchDone(self.m.version, cp.statement + 1, cp.batches, start, end, keys, rows, self.size, ms,
                                cp.keys_done, cp.total_estimate or 0, cp.rows_touched))  # fmt: skip
            self._adapt(ms, keys)

    def _failed(self, b: Bounded, cp: Checkpoint, exc: Exception) -> Exception:
        step, m = self.step, self.m
        if not self.conn.broken:
            self.runner.history.failed(m.version, 0, self.runner._error_text(b.statement, exc))
        after = f" (after key {'/'.join(cp.last_key)})" if cp.last_key else ""
        note = (f"the {cp.batches} range(s) committed before it stay{after}; fix the cause and run apply "
                "again: it resumes at the failed range")  # fmt: skip
        return self.runner._failure(step, b.statement, exc, rolled_back=False, resume_note=note)

    # ------------------------------------------------------------------ pacing
    def _adapt(self, ms: float, keys: int) -> None:
        """Steer the size toward target_ms: at most double or halve per batch, within min/max."""
        b = self.batch
        if keys < self.size:  # a short tail range says nothing about the speed
            return
        ratio = min(max(b.target_ms / max(ms, 0.1), 0.5), 2.0)
        new = min(max(int(self.size * ratio), b.min_size), b.max_size)
        if abs(new - self.size) > self.size * 0.1:
            self.emit(BatchResized(self.m.version, self.size, new, f"last batch {ms:.0f} ms, target {b.target_ms} ms"))
            self.size = new

    def _shrink(self, factor: int, reason: str) -> None:
        new = max(self.size // factor, self.batch.min_size)
        if new != self.size:
            self.emit(BatchResized(self.m.version, self.size, new, reason))
            self.size = new

    def _retry(self, exc: Any, attempt: int, retries: int) -> None:
        reason = RETRYABLE[exc.sqlstate]
        self.retries += 1
        self._shrink(4, f"{reason}: backing off")
        delay = min(self.settings.retry_backoff * (2 ** (attempt - 1)), MAX_RETRY_DELAY_S)
        self.emit(BatchRetry(self.m.version, attempt, retries, exc.sqlstate, reason, delay, self.size))
        self.sleep(delay)

    def _between_batches(self) -> None:
        """Stop if asked; honour sleep_ms; throttle on replica lag and lock waiters (max_rows is checked
        once the next range is found, so a run that does the last rows finishes the migration)."""
        if self.stop_requested:
            raise BatchInterrupted(
                f"stopped after batch {self.batches} of this run (Ctrl-C); every committed range is kept",
                where=self.m.up.display,
                hint="run `sqlmig apply` again: it resumes after the last committed range",
            )
        if self.batches and self.batch.sleep_ms:
            self.sleep(self.batch.sleep_ms / 1000)
        now = time.monotonic()
        if now - self._last_check < THROTTLE_CHECK_S:
            return
        self._last_check = now
        waited = 0.0
        while waited < MAX_THROTTLE_S and not self.stop_requested:
            pause = self._throttle_reason()
            if pause is None:
                return
            reason, detail = pause
            self.throttles += 1
            self._shrink(2, detail)
            delay = min(1.0 * 2 ** min(self.throttles - 1, 3), 10.0)
            self.emit(BatchThrottled(self.m.version, reason, detail, delay, self.size))
            self.sleep(delay)
            waited += delay

    def _throttle_reason(self) -> tuple[str, str] | None:
        limit = self.batch.max_replication_lag_s
        if limit:
            lag = float(self.conn.execute(REPLICATION_LAG).fetchone()[0])
            if lag > limit:
                return "replication_lag", f"a replica lags {lag:.1f}s (max_replication_lag_s: {limit:g})"
        waiters = int(self.conn.execute(LOCK_WAITERS).fetchone()[0])
        if waiters >= LOCK_WAITERS_LIMIT:
            return "lock_waiters", f"{waiters} sessions are waiting on locks"
        return None

    def _install_sigint(self) -> Any:
        """First Ctrl-C: finish the current range, then stop. Second: stop now (the range rolls back)."""
        if threading.current_thread() is not threading.main_thread():
            return None

        previous = signal.getsignal(signal.SIGINT)
        second = previous if callable(previous) else signal.default_int_handler

        def on_sigint(signum: int, frame: Any) -> None:
            if self.stop_requested:
                second(signum, frame)  # the CLI's handler: a KeyboardInterrupt, and a cleanup not cut short
            self.stop_requested = True

        signal.signal(signal.SIGINT, on_sigint)
        return previous if previous is not None else signal.default_int_handler

    def _summary(self, ms: int, stopped: str | None) -> None:
        d = sorted(self.durations)
        avg = sum(d) / len(d) if d else 0.0
        p95 = d[min(int(len(d) * 0.95), len(d) - 1)] if d else 0.0
        every = self.latest.values()
        self.emit(BatchSummary(self.m.version, self.m.name, self.rows, self.keys, self.batches, self.retries,
                               self.throttles, ms, avg, p95, stopped, resumed=self.resumed,
                               total_rows_touched=sum(cp.rows_touched for cp in every),
                               total_batches=sum(cp.batches for cp in every),
                               total_duration_ms=self.prior_ms + ms))  # fmt: skip


def progress(conn: Any, settings: Any, project: Any) -> dict[str, float]:
    """Percentage done of each batched migration that has checkpoints (for `status`)."""
    by_version = project.by_version()
    out = {}
    for version, cps in Checkpoints(conn, settings).read_all().items():
        m = by_version.get(version)
        n = len(m.up.statements) if m else len(cps)
        out[version] = percent_done(cps, n)
    return out
