"""Which planned steps apply as one stream (sqlmig.stream), and the queries and events of such a run.

The runner streams consecutive steps that `streamable` accepts; a Feed generates their queries
as the stream asks for them (BEGIN and the timeouts, the statements, the history row, COMMIT),
knows which step and statement each query belongs to, and turns the stream's callbacks into the
runner's events and results.

Durability: every streamed migration but the last of its stretch commits with synchronous_commit
off (unless the config's sync_commit is "each"), so 500 migrations wait for one WAL flush instead
of 500. Each one is still all or nothing: an asynchronous commit is atomic and visible at once;
only a crash of the server in the moment before the WAL writer flushes it (a fraction of a second)
can lose it, and then its history row goes with it, so a rerun applies it again. The stretch's last
COMMIT waits for its flush, which is everything written before it too (the WAL is one sequence,
and a synchronous standby confirms it the same way): when apply reports success, or a
migration's failure (its failed row is a synchronous commit), every migration it reports applied
is durable.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

from sqlmig import postgres
from sqlmig.events import MigrationDone, MigrationStarted, StatementDone, StatementStarted
from sqlmig.planner import Step
from sqlmig.project import check_statements
from sqlmig.sql import Statement
from sqlmig.stream import Prepare, Prepared, Query


def streamable(step: Step) -> bool:
    """A step that can be streamed: applying a transactional migration that has no batch (its own
    transactions), no verify queries (they decide about COMMIT), is no point of no return (it may
    take a backup first), and none of whose statements `_needs_its_own_turn`."""
    m = step.migration
    if not (step.direction == "up" and m is not None and m.manifest.transactional and m.manifest.batch is None
            and not m.manifest.verify and not m.point_of_no_return):  # fmt: skip
        return False
    return not any(_needs_its_own_turn(s) for s in check_statements(m))


_PARAMETER = re.compile(r"\$[0-9]")  # no `$1` in the text: no need to read the tokens (a `$$` body is common)


def _needs_its_own_turn(stmt: Statement) -> bool:
    """What a stream would get wrong, so the migration runs one query at a time instead:
    - DEALLOCATE / DISCARD drop prepared statements, which psycopg keeps track of and would not see;
    - a change of client_encoding (SET, SET NAMES, set_config): the stream encodes its queries
      ahead of the server, in the encoding of the moment;
    - a bare positional parameter ($1): the extended protocol would take it for a bind parameter
      and say so, where the server's own error is "there is no parameter $1"."""
    if postgres.drops_prepared_statements(stmt) or "client_encoding" in stmt.text.lower():
        return True
    if stmt.keywords[:2] == ("SET", "NAMES"):
        return True
    return _PARAMETER.search(stmt.text) is not None and any(
        a.token_type.name == "PARAMETER" and b.token_type.name == "NUMBER" and b.start == a.end + 1
        for a, b in pairwise(stmt.tokens))  # fmt: skip


class Feed:
    """The queries of streamed steps, generated as the stream needs them, and what each one is."""

    def __init__(self, runner: Any, steps: list[Step], announced: set[str]) -> None:
        self.runner, self.steps = runner, steps
        self.kinds: list[tuple[Step, Statement | None, str]] = []  # per query: its step, statement, role
        self.stmt_t0 = 0.0
        self.done: list[tuple[Step, int]] = []  # the steps committed, with their duration (ms)
        self.t0 = time.perf_counter()  # when the current step began
        self.ms = 0
        self.announced = announced  # versions whose MigrationStarted was emitted, across retries

    def queries(self) -> Iterator[Query]:
        runner = self.runner
        each = runner.settings.sync_commit == "each"
        history = runner.history
        record, text = history.streamed_record()
        for n, step in enumerate(self.steps, 1):
            m = step.migration
            assert m is not None
            statements = check_statements(m)
            lock, stmt_timeout, _ = runner._timeouts(step)
            reset = any(postgres.changes_session(s) for s in statements)
            row = runner._history_row(step, statements, len(statements))
            begin = runner.history.streamed_begin(lock, stmt_timeout, wait_for_flush=each or n == len(self.steps))
            resets, params, commit = history.streamed_finish(row, reset_session=reset)
            finish = [*resets, Prepared(record, params), commit]
            self.kinds += [(step, None, "begin")] * len(begin)
            yield from begin
            if n == 1:  # inside the first transaction: parsing it locks the history table, under lock_timeout
                self.kinds.append((step, None, "prepare"))
                yield Prepare(record, text)
            encoding = runner.conn.info.encoding
            for stmt in statements:
                self.kinds.append((step, stmt, "statement"))
                yield stmt.text.encode(encoding)
            self.kinds += [(step, None, "reset")] * (len(finish) - 2) + [(step, None, "record"), (step, None, "commit")]
            yield from finish

    def role(self, index: int) -> str:
        """What query `index` was: begin, prepare, statement, reset, record or commit."""
        return self.kinds[index][2]

    def owner(self, index: int) -> tuple[Step, Statement | None, str]:
        """The failed query's step, statement, and stage as Runner._failure names it."""
        step, stmt, role = self.kinds[index]
        return step, stmt, {"begin": "", "statement": "", "commit": "commit"}.get(role, "history")

    def started(self, index: int) -> None:
        step, stmt, _ = self.kinds[index]
        emit = self.runner.emit
        if index == 0 or self.kinds[index - 1][2] == "commit":  # the step's BEGIN
            self.t0 = time.perf_counter()
            m = step.migration
            assert m is not None
            if step.version not in self.announced:
                self.announced.add(step.version)
                emit(MigrationStarted(m.version, m.name, "up", len(check_statements(m)), True))
        if stmt is not None:
            emit(StatementStarted(step.version, stmt.index, stmt.path, stmt.line, stmt.first_line))
            self.stmt_t0 = time.perf_counter()

    def finished(self, index: int, result: Any) -> None:
        step, stmt, role = self.kinds[index]
        if stmt is not None:
            self.runner.emit(StatementDone(step.version, stmt.index, int((time.perf_counter() - self.stmt_t0) * 1000)))
        elif role == "record":  # RETURNING the duration the server measured (none: a trigger's doing)
            value = result.get_value(0, 0) if result.ntuples else None
            self.ms = int(value) if value is not None else int((time.perf_counter() - self.t0) * 1000)
        elif role == "commit":
            m = step.migration
            assert m is not None
            self.runner.emit(MigrationDone(m.version, m.name, "up", self.ms))
            self.done.append((step, self.ms))
