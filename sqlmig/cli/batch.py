"""`sqlmig finalize`, and how batched migrations show on a terminal (a progress bar) or in logs (lines)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sqlmig.cli.base import (
    DatabaseUrl,
    Format,
    FormatOpt,
    LockWait,
    ProjectDir,
    app,
    err,
    run,
    settings_for,
)

if TYPE_CHECKING:
    from sqlmig import events as ev

LOG_EVERY_S = 5.0  # without a terminal, one progress line at most this often


class BatchDisplay:
    """An event sink for text output: batch events drive a rich progress bar on a terminal (rows done,
    rows/s, batch size, ETA) or periodic lines in a log; every other event goes to `fallback`."""

    def __init__(self, fallback: ev.Sink, terminal: bool | None = None) -> None:
        self.fallback = fallback
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.progress: Any = None
        self.task: Any = None
        self.started = 0.0
        self.keys_at_start = 0
        self.last_line = 0.0

    def __call__(self, e: ev.Event) -> None:
        from sqlmig import events as ev  # when an event comes: commands that emit none never import it

        if isinstance(e, ev.BatchStarted):
            self._start(e)
        elif isinstance(e, ev.BatchDone):
            self._advance(e)
        elif isinstance(e, ev.BatchResized):
            if self.progress is not None:
                self.progress.update(self.task, size=e.new_size)
        elif isinstance(e, (ev.BatchRetry, ev.BatchThrottled)):
            self._line(e.render_text())
        elif isinstance(e, ev.RestoreProgress):  # a long restore says how far it got, every few seconds
            now = time.monotonic()
            if not self.last_line:  # the first slice starts the clock
                self.last_line = now
            elif now - self.last_line >= LOG_EVERY_S:
                self.last_line = now
                err(e.render_text())
        elif isinstance(e, (ev.BatchSummary, ev.MigrationFailedEvent)):
            self._stop()
            self.fallback(e)
        else:
            self.fallback(e)

    def _line(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(text, highlight=False, markup=False)
        else:
            err(text)

    def _start(self, e: ev.BatchStarted) -> None:
        self._stop()
        self.started = time.monotonic()
        self.keys_at_start = e.keys_done
        self.last_line = 0.0
        err(e.render_text())
        if not self.terminal:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("  {task.description}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows"), TextColumn("{task.fields[rate]:,.0f} rows/s"),
            TextColumn("batch {task.fields[size]:,}"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )  # fmt: skip
        self.task = self.progress.add_task(f"{e.version} {e.statement}/{e.statements}",
                                           total=max(e.total_estimate, e.keys_done, 1), completed=e.keys_done,
                                           rate=0.0, size=e.size)  # fmt: skip
        self.progress.start()

    def _advance(self, e: ev.BatchDone) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (e.keys_done - self.keys_at_start) / elapsed
        if self.progress is not None:
            total = max(e.total_estimate, e.keys_done)
            self.progress.update(self.task, completed=e.keys_done, total=total, rate=rate, size=e.size)
            return
        now = time.monotonic()
        if now - self.last_line >= LOG_EVERY_S:
            self.last_line = now
            err(f"{e.render_text()}, {rate:,.0f} rows/s")

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


Version = Annotated[str, typer.Argument(help="The batched migration's version, e.g. 00007.")]


@app.command()
def finalize(
    version: Version,
    database_url: DatabaseUrl = None,
    project: ProjectDir = Path("."),
    lock_wait: LockWait = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Mark an applied batched migration final: drop its captured rows and checkpoints (no restore after this)."""

    def body() -> int:
        from sqlmig.cli.migrate import _announce, _migrator
        from sqlmig.cli.render import print_changes

        settings = settings_for(project, database_url, lock_wait=lock_wait)
        with _migrator(settings, fmt.value) as m:  # with the event sink: a wait for the lock is shown
            _announce(m)
            changes = m.finalize(version)
        summary = f"finalize: {version} is final" if changes else f"finalize: {version} had nothing to drop"
        print_changes(fmt.value, "finalize", changes, summary, version=version)
        return 0

    run(fmt, body)


def batch_plan(step: Any) -> dict:
    """Extra plan fields for a batched step (`batch`) or a rollback that restores captured rows."""
    from sqlmig.batch import describe, has_restore_directive, rollback_text

    m = step.migration
    if step.direction == "up" and m is not None and m.manifest.batch is not None:
        return {"transaction": "batch", "batch": describe(m)}
    if step.direction == "down" and has_restore_directive(rollback_text(step)):
        return {"restore_captured": True}
    return {}


def batch_plan_lines(step: dict) -> list[str]:
    """The text plan of a batched step: the exact SQL each range runs, with its parameters."""
    if step.get("restore_captured"):
        return ["      restores the rows captured when it was applied (-- sqlmig:restore-captured), in slices"]
    b = step.get("batch")
    if not b:
        return []
    key = ", ".join(b["key"]) if b["key"] else "primary key"
    lines = [f"      batches over {b['table']}({key}) by keyset ranges, each in its own transaction: "
             f"{b['size']} rows to start, {b['min_size']}-{b['max_size']}, aiming at {b['target_ms']} ms per batch"
             + (f", sleeping {b['sleep_ms']} ms between" if b["sleep_ms"] else "")
             + (", capturing prior values for restore" if b["capture"] else "")]  # fmt: skip
    for st in b["statements"]:
        how = "rewritten by sqlmig (sqlglot added the range predicate)" if st["rewritten"] else "your text"
        lines.append(f"      {st['path']}:{st['line']} runs per range as ({how}):")
        lines += [f"          {line}" for line in st["sql"].splitlines()]
        lines += [f"        {p}" for p in st["params"]]
    return lines
