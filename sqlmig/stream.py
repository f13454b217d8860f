"""Queries streamed to the server ahead of their results (libpq's pipeline mode), across transactions.

A run of plain transactional migrations is a sequence of queries: BEGIN, the timeouts, each
statement, the history row, COMMIT, then the next migration's BEGIN. psql waits for each
result before sending the next query, so the server idles while the client reads, and the
client idles while the server works. Here the client keeps a window of queries queued, so the
server goes from one to the next without waiting, and the client does its own work meanwhile.

What keeps this safe is PostgreSQL's rule for a pipeline: after an error, the server skips
every query up to the next Sync, including later transactions; transactions that committed
before the error stay committed. Only one Sync is sent, after the last query, so nothing runs
after a failed statement: the failed migration's transaction is left aborted for the caller
to roll back, and the migrations queued behind it never start.

Each statement of a migration is its own protocol message carrying the author's text as it is
(the extended protocol, unnamed statement, no parameters), so an error's position is within its
statement. sqlmig's own history row is a statement prepared once per stream (Prepare) and bound
for each migration (Prepared).
"""

from __future__ import annotations

import selectors
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

WINDOW = 16  # queries in flight: enough to keep the server busy, few to run on after Ctrl-C
CANCEL_S = 5.0  # after Ctrl-C: how long a cancel request may take, and how long the server may take to
# answer one (as psycopg allows a cancelled query) before the connection is given up and closed


class Prepare(NamedTuple):
    """A query that prepares `text` as the statement `name` (sqlmig's own bookkeeping, bound many times)."""

    name: bytes
    text: bytes


class Prepared(NamedTuple):
    """A query that runs the prepared statement `name` with `params` (text format; None is NULL)."""

    name: bytes
    params: list[bytes | None]


Query = bytes | Prepare | Prepared  # bytes: a statement's text, run as it is


class StreamFailed(Exception):
    """Query number `index` failed with `error` (a psycopg.Error); every query before it completed."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


def stream(conn: Any, queries: Iterator[Query], on_start: Callable[[int], None],
           on_result: Callable[[int, Any], None]) -> None:  # fmt: skip
    """Send `queries` in order, `WINDOW` ahead of their results, and wait for all of them.

    `on_start(i)` is called when query i becomes the one the server runs (when i-1 completed),
    `on_result(i, pgresult)` when it completed without error. The first error raises StreamFailed
    once the server has skipped the rest. Any other exception (Ctrl-C included) cancels the
    running query first. Either way the connection leaves pipeline mode usable, with the failed
    transaction, if any, still open for the caller to roll back; a connection that cannot (lost,
    silent after the cancel, or still busy after a second Ctrl-C outside the CLI) is closed, which
    rolls back on the server.
    """
    pg = conn.pgconn
    run = _Run(conn, queries, on_start, on_result)
    pg.enter_pipeline_mode()
    try:
        run.loop()
    except BaseException:
        if not run.over:
            _cancel_and_drain(conn, run)
        raise
    finally:
        if pg.pipeline_status and not run.broken:
            try:
                pg.exit_pipeline_mode()
            except Exception:  # results still pending (a second Ctrl-C while draining, outside the CLI)
                run.broken = True
        if run.broken and not conn.closed:
            conn.close()  # a connection in an unknown state: closing it rolls back and frees the lock
    if run.failed is not None:
        raise run.failed


class _Run:
    """One stream's state: what was sent, what completed, the first error."""

    def __init__(self, conn: Any, queries: Iterator[Query], on_start: Callable[[int], None],
                 on_result: Callable[[int, Any], None]) -> None:  # fmt: skip
        from psycopg import pq

        self.conn, self.pg, self.queries = conn, conn.pgconn, queries
        self.on_start, self.on_result = on_start, on_result
        self.status = pq.ExecStatus
        self.sent = 0  # queries sent
        self.exhausted = False  # every query was sent
        self.announced = 0  # on_start was called for the queries before this one
        self.completed = 0  # queries whose results are all in
        self.last: Any = None  # the last result of the query being read
        self.synced = False  # the Sync after the last query was sent
        self.over = False  # the Sync's result arrived: nothing is pending
        self.broken = False
        self.failed: StreamFailed | None = None
        self.cancelling = False
        self.selector = selectors.DefaultSelector()

    def loop(self) -> None:
        from psycopg import OperationalError

        try:
            while not self.over:
                self._send()
                self._wait()
                self._read()
        except OperationalError as exc:  # the connection is gone, and with it the open transaction
            self.broken = True
            self.failed = self.failed or StreamFailed(self.completed, exc)

    def _send(self) -> None:
        """Queue queries up to the window; after the last one (or an error), the Sync."""
        while not self.synced and self.failed is None and self.sent - self.completed < WINDOW:
            query = next(self.queries, None)
            if query is None:
                self.exhausted = True
                break
            if isinstance(query, Prepare):
                self.pg.send_prepare(query.name, query.text)
            elif isinstance(query, Prepared):
                self.pg.send_query_prepared(query.name, query.params)
            else:
                self.pg.send_query_params(query, None)
            self.pg.send_flush_request()  # its result as soon as it is ready: the window slides, never drains
            self.sent += 1
            self._announce()
        if not self.synced and (self.failed is not None or self.exhausted):
            self.pg.pipeline_sync()
            self.synced = True

    def _announce(self) -> None:
        """on_start for the query the server runs now: the first not completed, once it was sent."""
        if self.announced == self.completed < self.sent:
            self.on_start(self.completed)
            self.announced += 1

    def cancel(self) -> None:
        """Ask the server to cancel the query it runs; nothing more is sent."""
        self.cancelling = True
        self.failed = self.failed or StreamFailed(self.completed, KeyboardInterrupt())
        self.conn.cancel_safe(timeout=CANCEL_S)

    def _wait(self, timeout: float | None = None) -> bool:
        """Until the server has something for us (False: `timeout` passed first); flushing what libpq
        could not send yet."""
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.pg.flush() else 0)
        key = self.selector.register(self.pg.socket, events)
        try:
            ready = self.selector.select(timeout)
        finally:
            self.selector.unregister(key.fileobj)
        self.pg.consume_input()
        return bool(ready)

    def _read(self) -> None:
        from psycopg import errors

        while (self.completed < self.sent or self.synced) and not self.pg.is_busy():
            res = self.pg.get_result()
            if res is None:  # query `completed` has all its results
                index, last = self.completed, self.last
                self.completed += 1  # before any callback: one that raises (Ctrl-C) leaves the count right
                self.last = None
                if self.cancelling:
                    if last is not None and self.completed < self.sent:
                        self.cancel()  # the cancel came between two queries, so the server ran on: again
                    continue  # no callbacks while draining: the caller is unwinding
                if last is not None:
                    self.on_result(index, last)
                if self.failed is None:
                    self._announce()
                continue
            status = res.status
            if status == self.status.PIPELINE_SYNC:
                self.over = True
                return
            if status == self.status.FATAL_ERROR:
                if self.failed is None:
                    error = errors.error_from_result(res, encoding=self.conn.info.encoding)
                    self.failed = StreamFailed(self.completed, error)
                self.last = None
            elif status != self.status.PIPELINE_ABORTED:  # also while cancelling: a success means the cancel missed
                self.last = res


def _cancel_and_drain(conn: Any, run: _Run) -> None:
    """After Ctrl-C: cancel the running query, then read up to the Sync, so the connection can roll back.

    Bounded, since a second Ctrl-C no longer cuts this short (sqlmig.cli.base): the cancel is sent again
    each second nothing arrives (one that lands between two queries cancels nothing), and a server silent
    for CANCEL_S is given up: the connection is closed, and the server rolls back when it notices."""
    try:
        run.cancel()
        if not run.synced:
            run.pg.pipeline_sync()
            run.synced = True
        silent_since = time.monotonic()
        while not run.over:
            if run._wait(1.0):
                silent_since = time.monotonic()
            elif time.monotonic() - silent_since > CANCEL_S:
                raise TimeoutError("the server did not answer the cancel")
            else:
                run.cancel()
            run._read()
    except Exception:  # the connection is gone: the server rolls back and releases the lock itself
        run.broken = True
