"""Executes a Plan: transactions, autocommit statements, lock_timeout retries; emits events.

A `transaction: per-migration` migration runs its statements, its verify queries and
its history row in one transaction: all of it commits or none of it does. A lock
timeout (SQLSTATE 55P03) rolls the whole attempt back and retries it with backoff.

A `transaction: none` migration runs each statement on its own in autocommit and
records after each how many completed (and a checksum of their text), so a rerun
resumes at the statement that failed, and refuses if the completed ones were edited.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import takewhile
from typing import Any

from sqlmig import __version__, batch, postgres
from sqlmig.batch import has_restore_directive
from sqlmig.config import Settings
from sqlmig.db import server_error
from sqlmig.errors import DriftError, MigrationFailed, ServerError
from sqlmig.events import (
    MigrationDone,
    MigrationFailedEvent,
    MigrationStarted,
    Note,
    Retrying,
    Sink,
    StatementDone,
    StatementStarted,
)
from sqlmig.history import History
from sqlmig.planner import Plan, Step
from sqlmig.project import check_statements
from sqlmig.sql import Statement, checksum, split_statements
from sqlmig.stream import stream
from sqlmig.streamed import Feed, streamable

LOCK_NOT_AVAILABLE = "55P03"


# A stream's history row is a prepared statement. A migration that drops it (DEALLOCATE ALL in dynamic
# SQL: 26000) or changes the history table's row type under it (0A000, "cached plan must not change
# result type") makes the row fail: that migration then runs again one query at a time, where the row
# is sent as text.
def _prepared_row_lost(exc: Exception) -> bool:
    state = getattr(exc, "sqlstate", None)
    return state == "26000" or (state == "0A000" and "cached plan" in str(exc))


@dataclass(frozen=True)
class StepResult:
    version: str
    name: str
    direction: str
    duration_ms: int


def done_checksum(statements: list[Statement], count: int) -> str | None:
    """Checksum of the first `count` statements' text: what a resumed run must find unchanged."""
    if count == 0:
        return None
    return checksum("\x00".join(s.text for s in statements[:count]).encode())


_PLPGSQL_LINE = re.compile(r"(?:PL/pgSQL function inline_code_block|compilation of PL/pgSQL function .*) line (\d+)")


def _position_line(stmt: Statement, err: ServerError) -> int:
    """The file line the server's error points at: its position in the statement, or the line
    PL/pgSQL names inside the statement's own dollar-quoted body (a DO block, a function being
    created); else the statement's first line."""
    if err.position and err.position > 0:
        return stmt.line + stmt.text[: err.position - 1].count("\n")
    found = _PLPGSQL_LINE.search(err.context or "")
    if found and stmt.tokens:
        base = stmt.tokens[0].start
        for tok in stmt.tokens:
            rel = tok.start - base
            if tok.token_type.name == "STRING" and stmt.text[rel : rel + 1] == "$":
                return stmt.line + stmt.text[:rel].count("\n") + int(found[1]) - 1
    return stmt.line


def _file(step: Step) -> str | None:
    """The file a step runs: the forward file, or a rollback's (None when history holds the rollback SQL)."""
    m = step.migration
    file = None if m is None else m.up if step.direction == "up" else m.rollback
    return file.display if file else None


def check_resume(step: Step, statements: list[Statement]) -> None:
    """Refuse to resume a partly applied `transaction: none` run whose completed statements were edited
    (or whose manifest no longer says transaction: none): the rerun would skip or repeat the wrong work."""
    m, row = step.migration, step.applied
    if m is None or row is None or row.status not in ("failed", "running") or not row.statements_done:
        return
    if row.transaction_mode == "none" and m.manifest.transactional:
        raise DriftError(
            f"{m.manifest_display}: {row.statements_done} statement(s) of an earlier transaction: none run "
            "stay applied, but the manifest now says per-migration",
            hint="restore transaction: none, or after undoing those statements by hand run `sqlmig repair`",
        )
    done = step.resume_from
    if done > len(statements) or row.done_checksum != done_checksum(statements, done):
        raise DriftError(
            f"{m.up.display}: the {done} statement(s) that already ran were edited since",
            details=[f"{s.where}: {s.first_line}" for s in statements[:done]],
            hint="restore them, or after checking the database by hand run `sqlmig repair` "
            "to clear the failed run and start this migration from its first statement",
        )


def _resume_note(stmt: Statement, index: int, total: int) -> str:
    note = (
        f"statements 1-{index} of {total} were applied and stay applied; "
        f"fix statement {index + 1} and run apply again: it resumes there"
        if index
        else "no statement of this migration was applied; fix it and run apply again"
    )
    if postgres.statement_kind(stmt) == "CREATE INDEX" and "CONCURRENTLY" in stmt.keywords:
        note += ("; a failed CREATE INDEX CONCURRENTLY can leave an INVALID index: "
                 "drop it (DROP INDEX CONCURRENTLY) before rerunning")  # fmt: skip
    return note


class Runner:
    """Runs plan steps on one connection that already holds the migration lock."""

    def __init__(self, conn: Any, history: History, settings: Settings, sink: Sink,
                 sleep: Callable[[float], None] = time.sleep,
                 before_step: Callable[[Step], None] | None = None) -> None:  # fmt: skip
        self.conn = conn
        self.history = history
        self.settings = settings
        self.emit = sink
        self.sleep = sleep
        self.before_step = before_step  # e.g. the pg_dump a point of no return asks for (sqlmig.backup)
        self._pg_major: int | None = None

    def run(self, plan: Plan) -> list[StepResult]:
        results: list[StepResult] = []
        steps = plan.steps
        while len(results) < len(steps):
            step = steps[len(results)]
            run = list(takewhile(streamable, steps[len(results) :]))
            if run:  # plain transactional migrations: one stream of queries (sqlmig.stream)
                results += self._stream(run)
                continue
            if self.before_step:
                self.before_step(step)
            results.append(self.apply_step(step) if step.direction == "up" else self.rollback_step(step))
        return results

    def _stream(self, steps: list[Step]) -> list[StepResult]:
        """Apply `steps` (each all or nothing) with their queries streamed ahead of the results, so the
        server never waits for the client; the first failure stops the rest (see sqlmig.stream)."""
        from sqlmig.stream import StreamFailed

        done: list[StepResult] = []
        attempts: dict[str, int] = {}  # lock-timeout retries so far, per migration
        announced: set[str] = set()  # migrations whose start was reported (a retry does not say it again)
        while len(done) < len(steps):
            feed = Feed(self, steps[len(done) :], announced)
            try:
                stream(self.conn, feed.queries(), feed.started, feed.finished)
            except StreamFailed as failed:
                done += [StepResult(s.version, s.name, "up", ms) for s, ms in feed.done]
                step, stmt, stage = feed.owner(failed.index)
                self.history.abort()
                m = step.migration
                assert m is not None
                exc, tried = failed.error, attempts.get(step.version, 0)
                retries = self._timeouts(step)[2]
                if getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE and tried < retries:
                    attempts[step.version] = tried + 1
                    self._backoff(step, tried + 1, retries, exc, stmt)
                    continue
                if feed.role(failed.index) == "record" and _prepared_row_lost(exc):
                    self.emit(Note("info", f"{step.version}_{step.name} changed the statement sqlmig prepared for "
                                   f"its history rows ({server_error(exc).message}): it was rolled back and runs "
                                   "again, one query at a time"))  # fmt: skip
                    lock, stmt_timeout, retries = self._timeouts(step)
                    done.append(self._apply_transactional(step, check_statements(m), lock, stmt_timeout, retries,
                                                          announce=False))  # fmt: skip
                    continue
                ms = int((time.perf_counter() - feed.t0) * 1000)
                statements = check_statements(m)
                self._record_failure(step, statements, 0, ms, self._error_text(stmt, exc))
                raise self._failure(step, stmt, exc, rolled_back=True, attempts=tried, stage=stage) from None
            except BaseException:
                self.history.abort()  # Ctrl-C: the running migration was cancelled; roll it back
                if feed.done:  # committed without waiting for the disk: wait now, rather than on the WAL writer
                    self.history.wait_for_flush()
                raise
            done += [StepResult(s.version, s.name, "up", ms) for s, ms in feed.done]
        return done

    # ------------------------------------------------------------------ helpers
    def _timeouts(self, step: Step) -> tuple[str, str, int]:
        man = step.migration.manifest if step.migration else None
        lock = (man.lock_timeout if man else None) or self.settings.lock_timeout
        stmt = (man.statement_timeout if man else None) or self.settings.statement_timeout
        retries = man.retries if (man and man.retries is not None) else self.settings.retries
        return lock, stmt, retries

    def _execute(self, step: Step, stmt: Statement) -> None:
        self.emit(StatementStarted(step.version, stmt.index, stmt.path, stmt.line, stmt.first_line))
        t0 = time.perf_counter()
        self.conn.execute(stmt.text, prepare=False)
        self.emit(StatementDone(step.version, stmt.index, int((time.perf_counter() - t0) * 1000)))

    def _run_verify(self, step: Step) -> None:
        """Run the manifest's verify queries; each must return true."""
        m = step.migration
        if not m or not m.manifest.verify:
            return
        for query in m.manifest.verify:
            row = self.conn.execute(query, prepare=False).fetchone()
            value = row[0] if row else None
            if value is not True:
                raise _VerifyFailed(query, value)

    def _failure(self, step: Step, stmt: Statement | None, exc: Exception, *, rolled_back: bool,
                 resume_note: str | None = None, attempts: int = 0, stage: str = "") -> MigrationFailed:  # fmt: skip
        if isinstance(exc, _VerifyFailed):
            where = step.migration.manifest_display if step.migration else None
            message = f"verify query did not return true (returned {exc.value!r}): {exc.query}"
            server = None
        else:
            server = server_error(exc)
            where = f"{stmt.path}:{_position_line(stmt, server)}" if stmt else None
            message = f"statement failed: {stmt.first_line}" if stmt else "migration failed"
            if stage == "verify":
                message, where = "a verify query failed", step.migration.manifest_display if step.migration else None
            elif stage == "commit":
                message = "migration failed at COMMIT (deferred constraints and triggers run there)"
                where = _file(step)
            elif stage == "history":
                message = f"sqlmig could not write the migration's row in {self.history.table_name}"
                where = _file(step)
        what = "rolled back" if step.direction == "up" else "rollback"
        details = [f"migration {step.version}_{step.name} ({what if rolled_back else 'stopped'})"]
        fix = (f"fix what refused the row (a trigger, a constraint or a privilege on {self.history.table_name})"
               if stage == "history" else "fix the statement")  # fmt: skip
        hint = (
            resume_note
            or (f"nothing was changed: the migration's transaction was rolled back; {fix} and run again"
                if rolled_back else None)
        )  # fmt: skip
        if server and server.sqlstate == LOCK_NOT_AVAILABLE:
            if attempts:
                details.append(f"gave up after {attempts} retr{'y' if attempts == 1 else 'ies'} with backoff")
            blockers = self._blockers(stmt)
            details += [f"blocked by {b}" for b in blockers]
            find = "named above" if blockers else "find it in pg_locks / pg_stat_activity"
            hint = (hint + "; " if hint else "") + (
                f"another session holds a conflicting lock ({find}): run when it is done, "
                "or raise lock_timeout / retries in the manifest")  # fmt: skip
        self.emit(MigrationFailedEvent(step.version, step.name, step.direction, message, rolled_back))
        return MigrationFailed(message, where=where, details=details, server=server, hint=hint)

    def _error_text(self, stmt: Statement | None, exc: Exception) -> str:
        """The error as history keeps it: file:line, the statement's first line, and what the server said."""
        if isinstance(exc, _VerifyFailed):
            return f"verify returned {exc.value!r}: {exc.query}"
        err = server_error(exc)
        where = f"{stmt.path}:{_position_line(stmt, err)}: {stmt.first_line[:200]}: " if stmt else ""
        return where + " | ".join(err.lines())

    def _history_row(self, step: Step, statements: list[Statement], done: int) -> dict:
        m = step.migration
        assert m is not None
        ponr = m.manifest.point_of_no_return
        return {
            "version": m.version, "name": m.name, "phase": m.manifest.phase,
            "transaction_mode": m.manifest.transaction, "checksum": m.checksums["up"],
            "rollback_checksum": m.checksums["rollback"], "manifest_checksum": m.checksums["manifest"],
            "statements_done": done, "done_checksum": done_checksum(statements, done),
            "sqlmig_version": __version__,
            "rollback_sql": m.rollback.text if m.rollback else None,
            "point_of_no_return": ponr.reason if ponr else None,
        }  # fmt: skip

    def _backoff(self, step: Step, attempt: int, retries: int, exc: Exception, stmt: Statement | None) -> None:
        delay = self.settings.retry_backoff * (2 ** (attempt - 1))
        where, first = (f"{stmt.path}:{stmt.line}", stmt.first_line[:100]) if stmt else ("", "")
        self.emit(Retrying(step.version, attempt, retries, delay, server_error(exc).message, where, first,
                           self._blockers(stmt)))  # fmt: skip
        self.sleep(delay)

    def _blockers(self, stmt: Statement | None) -> tuple[str, ...]:
        """Who holds a lock the statement waited for, read just after its lock_timeout (the holder
        usually still has it): pid, application, state, for how long, and its query."""
        import psycopg

        from sqlmig.liveplan import blockers_of

        if stmt is None or self.conn.broken:
            return ()
        try:
            if self._pg_major is None:
                self._pg_major = self.history.server_info()[0] // 10000
            return tuple(b.describe() for b in blockers_of(self.conn, stmt, self._pg_major))
        except psycopg.Error:  # a catalog read must never turn a retry into a failure
            self.history.abort()
            return ()

    # ------------------------------------------------------------------ apply
    def apply_step(self, step: Step) -> StepResult:
        m = step.migration
        assert m is not None
        if m.manifest.batch is not None:  # key ranges, each in its own transaction (sqlmig.batch)
            from sqlmig.batch import run_batched

            return run_batched(self, step)
        statements = check_statements(m)
        lock, stmt_timeout, retries = self._timeouts(step)
        if m.manifest.transactional:
            return self._apply_transactional(step, statements, lock, stmt_timeout, retries)
        return self._apply_autocommit(step, statements, lock, stmt_timeout, retries)

    def _apply_transactional(self, step: Step, statements: list[Statement], lock: str,
                             stmt_timeout: str, retries: int, *, announce: bool = True) -> StepResult:  # fmt: skip
        """All of it or none of it: BEGIN (with the timeouts), the statements, verify, and the history
        row with COMMIT, in as many round trips as psql needs for BEGIN, the statements and COMMIT."""
        import psycopg

        m = step.migration
        assert m is not None
        if announce:  # (a stream that hands a migration over has announced it)
            self.emit(MigrationStarted(m.version, m.name, "up", len(statements), True))
        reset = any(postgres.changes_session(s) for s in statements)
        attempt = 0
        while True:
            t0 = time.perf_counter()
            current: Statement | None = None
            stage = ""
            try:
                with self.history.transaction(lock, stmt_timeout):
                    for stmt in statements:
                        current = stmt
                        self._execute(step, stmt)
                    current, stage = None, "verify"
                    self._run_verify(step)
                    ms = int((time.perf_counter() - t0) * 1000)
                    row = self._history_row(step, statements, len(statements))
                    stage = "history"
                    try:
                        self.history.record_run(row, "applied", ms, reset_session=reset, commit=True)
                    except psycopg.Error:  # the row and COMMIT were one query: which of the two failed?
                        stage = "history" if self.history.in_transaction() else "commit"
                        raise
                self.emit(MigrationDone(m.version, m.name, "up", ms))
                return StepResult(m.version, m.name, "up", ms)
            except (psycopg.Error, _VerifyFailed) as exc:
                if getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE and attempt < retries:
                    attempt += 1
                    self._backoff(step, attempt, retries, exc, current)
                    continue
                ms = int((time.perf_counter() - t0) * 1000)
                self._record_failure(step, statements, 0, ms, self._error_text(current, exc))
                raise self._failure(step, current, exc, rolled_back=True, attempts=attempt, stage=stage) from None

    def _record_failure(self, step: Step, statements: list[Statement], done: int, ms: int, error: str) -> None:
        """Write the failed row on its own (the migration's transaction was rolled back), if the
        connection still works; a dead connection leaves the row as it was."""
        import psycopg

        if self.conn.closed or self.conn.broken:
            return
        lock_timeout = self._timeouts(step)[0]
        try:  # under the migration's lock_timeout: a session holding the history table must not hang sqlmig
            with self.history.transaction(lock_timeout, "0"):
                self.history.record_run(self._history_row(step, statements, done), "failed", ms, error, commit=True)
        except psycopg.Error:
            self.history.abort()

    def _apply_autocommit(self, step: Step, statements: list[Statement], lock: str,
                          stmt_timeout: str, retries: int) -> StepResult:  # fmt: skip
        """Statement by statement in autocommit, recording progress after each, so a rerun resumes."""
        import psycopg

        m = step.migration
        assert m is not None
        check_resume(step, statements)
        start_at = step.resume_from
        self.emit(MigrationStarted(m.version, m.name, "up", len(statements), False, start_at))
        t0 = time.perf_counter()
        done = start_at
        self.history.set_timeouts(lock, stmt_timeout)
        try:
            self.history.record_run(self._history_row(step, statements, start_at), "running", 0)
            for i in range(start_at, len(statements)):
                stmt = statements[i]
                attempt = 0
                while True:
                    try:
                        self._execute(step, stmt)
                        break
                    except psycopg.Error as exc:
                        retryable = exc.sqlstate == LOCK_NOT_AVAILABLE and "CONCURRENTLY" not in stmt.keywords
                        if retryable and attempt < retries:
                            attempt += 1
                            self._backoff(step, attempt, retries, exc, stmt)
                            continue
                        ms = int((time.perf_counter() - t0) * 1000)
                        self._record_failure(step, statements, i, ms, self._error_text(stmt, exc))
                        raise self._failure(step, stmt, exc, rolled_back=False, attempts=attempt,
                                            resume_note=_resume_note(stmt, i, len(statements))) from None  # fmt: skip
                done = i + 1
                self.history.progress(m.version, done, done_checksum(statements, done))
            try:
                self._run_verify(step)
            except (psycopg.Error, _VerifyFailed) as exc:
                ms = int((time.perf_counter() - t0) * 1000)
                self._record_failure(step, statements, done, ms, self._error_text(None, exc))
                raise self._failure(step, None, exc, rolled_back=False, stage="verify",
                                    resume_note="the statements stay applied; fix the data and run apply again "
                                    "(it reruns only the verify queries)") from None  # fmt: skip
            ms = int((time.perf_counter() - t0) * 1000)
            self.history.applied(m.version, ms, len(statements), done_checksum(statements, len(statements)))
        except KeyboardInterrupt:
            # psycopg cancelled the statement in progress; record how far the run got.
            ms = int((time.perf_counter() - t0) * 1000)
            self._record_failure(step, statements, done, ms, f"interrupted (Ctrl-C) at statement {done + 1}")
            raise
        finally:
            if not self.conn.closed and not self.conn.broken:
                self.history.reset_session()
        self.emit(MigrationDone(m.version, m.name, "up", ms))
        return StepResult(m.version, m.name, "up", ms)

    # ------------------------------------------------------------------ rollback
    def rollback_statements(self, step: Step) -> tuple[list[Statement], bool]:
        """The rollback's statements and whether they run in one transaction."""
        m = step.migration
        if m is not None and m.rollback is not None:
            if not m.rollback.statements and has_restore_directive(m.rollback.text):
                return [], True  # only `-- sqlmig:restore-captured`: sqlmig.batch restores the rows
            statements = check_statements(m, rollback=True)
            return statements, m.manifest.transactional
        assert step.applied is not None and step.applied.rollback_sql is not None
        shown = f"history:{step.version}_{step.name} (rollback SQL stored at apply time)"
        statements = split_statements(step.applied.rollback_sql, shown)
        transactional = not any(postgres.not_in_transaction_reason(s) for s in statements)
        return statements, transactional

    def rollback_step(self, step: Step) -> StepResult:
        import psycopg

        statements, transactional = self.rollback_statements(step)
        lock, stmt_timeout, retries = self._timeouts(step)
        restores = has_restore_directive(batch.rollback_text(step))
        self.emit(MigrationStarted(step.version, step.name, "down", len(statements), transactional,
                                   restores_captured=restores))  # fmt: skip
        started = time.perf_counter()
        batch.before_rollback(self, step)  # captured rows back first, when the rollback asks for them
        reset = any(postgres.changes_session(s) for s in statements)
        attempt = 0
        while True:
            current: Statement | None = None
            stage = ""
            try:
                if transactional:
                    with self.history.transaction(lock, stmt_timeout):
                        for stmt in statements:
                            current = stmt
                            self._execute(step, stmt)
                        current, stage = None, "history"
                        if reset:
                            self.history.reset_session()
                        self.history.rolled_back(step.version)
                        stage = "commit"  # on leaving the block
                else:
                    self.history.set_timeouts(lock, stmt_timeout)
                    try:
                        for stmt in statements:
                            current = stmt
                            self._execute(step, stmt)
                        current = None
                    finally:
                        if not self.conn.closed and not self.conn.broken:
                            self.history.reset_session()
                    stage = "history"
                    self.history.rolled_back(step.version)
                break
            except psycopg.Error as exc:
                if transactional and exc.sqlstate == LOCK_NOT_AVAILABLE and attempt < retries:
                    attempt += 1
                    self._backoff(step, attempt, retries, exc, current)
                    continue
                if not self.conn.broken:
                    try:
                        self.history.rollback_failed(step.version, self._error_text(current, exc))
                    except psycopg.Error:  # the row that refused the rollback may refuse its error too
                        self.history.abort()
                note = None if transactional else (
                    "this rollback runs without a transaction: the statements before the failed one "
                    "stay applied; write them with IF EXISTS so a rerun can pass over them")  # fmt: skip
                if note and stage == "history":
                    note = ("this rollback runs without a transaction: its statements ran and stay, while its "
                            "row still says applied; fix what refused the row, then rerun it (its statements "
                            "run again: write them with IF EXISTS)")  # fmt: skip
                raise self._failure(step, current, exc, rolled_back=transactional, resume_note=note,
                                    stage=stage) from None  # fmt: skip
        batch.after_rollback(self, step)  # a batched migration's capture table and checkpoints go with it
        ms = int((time.perf_counter() - started) * 1000)  # the restore included
        self.emit(MigrationDone(step.version, step.name, "down", ms))
        return StepResult(step.version, step.name, "down", ms)


class _VerifyFailed(Exception):
    def __init__(self, query: str, value: Any) -> None:
        super().__init__(query)
        self.query = query
        self.value = value
