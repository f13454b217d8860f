"""The Typer app, the options every command shares, and the one place errors become exit codes.

The CLI is the only layer that prints: results go to stdout, progress and the
"using database" line go to stderr, so `--format json` output can be piped.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from sqlmig import __version__
from sqlmig.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED, SqlmigError

# After the first SIGINT or SIGTERM, the longest sqlmig spends cleaning up before it exits anyway:
# ample when the server answers (psycopg gives a cancelled statement 5 s + 5 s), and short of the
# 30 s a container gets between SIGTERM and SIGKILL.
CLEANUP_LIMIT_S = 20.0

app = typer.Typer(
    name="sqlmig",
    help="Pure-SQL PostgreSQL migrations: plan, apply, rollback, lint and check.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: rich's renderer costs more start-up time than the whole of
    # `sqlmig --help` may take, and plain text reads the same in a terminal and in a CI log.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(str, Enum):
    text = "text"
    json = "json"


DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", "-d", help="PostgreSQL URL (else $SQLMIG_DATABASE_URL, $DATABASE_URL, "
                 "sqlmig.toml, PG* variables, or the embedded server).", show_default=False),
]  # fmt: skip
ProjectDir = Annotated[
    Path, typer.Option("--project", "-p", help="Project folder holding migrations/, rollback/, manifests/.")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
LockWait = Annotated[
    float | None,
    typer.Option("--lock-wait", help="Seconds to wait for the migration lock (default 60).", show_default=False),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Confirm points of no return and rollbacks.")]


def version_callback(value: bool) -> None:
    if value:
        print(f"sqlmig {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=version_callback, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Pure-SQL PostgreSQL migrations: plan, apply, rollback, lint and check."""


def err(line: str = "") -> None:
    _write(line, sys.stderr)


def out(line: str = "") -> None:
    _write(line, sys.stdout)


def out_json(obj: Any) -> None:
    _write(json.dumps(obj, default=str), sys.stdout)


# Writes to stdout that failed other than on a closed pipe (a full disk, an I/O error): the command's
# result did not reach its reader, so a process that would exit 0 exits 1 instead (sqlmig.cli._exit).
_unwritten: list[OSError] = []


def _write(line: str, stream: Any) -> None:
    """Print one line. When the reader has gone (`sqlmig status | head`) or the stream cannot be
    written (a full disk), the rest of the stream goes to /dev/null and the command carries on: a
    closed pipe or a full log never cuts a migration in half. A closed pipe leaves the exit code the
    command's own; results lost on stdout otherwise make it 1 (README, "Exit codes")."""
    try:
        print(line, file=stream, flush=True)
    except OSError as exc:
        if stream is sys.stdout and not isinstance(exc, BrokenPipeError):
            _unwritten.append(exc)
        from sqlmig.cli import _discard

        _discard(stream)  # not on a test's captured stream (no file descriptor): nothing to redirect


def run(fmt: Format | str, fn: Callable[[], int | None]) -> None:
    """Run a command body; map SqlmigError to its exit code and a message, never a traceback."""
    fmt = getattr(fmt, "value", fmt)
    signals = _Signals()
    try:
        signals.install()
        try:
            code = fn() or 0
        finally:
            signals.done = True  # the outcome is decided: a signal from here on changes nothing
    except SqlmigError as exc:
        signals.settle(exc.exit_code in (EXIT_INTERRUPTED, EXIT_TERMINATED))
        _report(exc, fmt)
    except KeyboardInterrupt:
        signals.settle(True)
        what = "terminated (SIGTERM)" if signals.terminated else "interrupted"
        err(f"{what}: a transactional migration in progress was rolled back; "
            "a `transaction: none` migration resumes at its next statement on the next apply")  # fmt: skip
        raise typer.Exit(EXIT_TERMINATED if signals.terminated else EXIT_INTERRUPTED) from None
    except OSError as exc:  # a file sqlmig had to read or write: permissions, a full disk
        signals.settle(False)
        failure = SqlmigError(str(exc), hint="check the path, its permissions and the free space")
        failure.exit_code = EXIT_FAILED
        _report(failure, fmt)
    finally:
        signals.settle(False)  # a no-op after the settle above
    raise typer.Exit(code)


class _Signals:
    """SIGINT (Ctrl-C) and SIGTERM (a deploy's timeout, a stopped pod) while a command runs.

    The first one stops the work: a KeyboardInterrupt, on which psycopg cancels the statement in
    progress on the server, and the command cleans up on its way out (rollback, the failed row of a
    `transaction: none` migration, the schema snapshot, the lock). Another one during that cleanup
    must not cut it short half-way, print a traceback, or kill the process as it exits (Python's own
    handlers are back then): it is noted and the cleanup goes on, bounded by CLEANUP_LIMIT_S, after
    which sqlmig exits anyway with the same code (the server rolls back and frees the lock when the
    connection ends). Any SIGTERM makes the exit code 143, whichever came first.
    """

    def __init__(self) -> None:
        self.stopping = False  # the first signal was raised as KeyboardInterrupt: cleaning up
        self.done = False  # the command body is over
        self.terminated = False
        self.noted = False
        self.previous: dict[int, Any] = {}
        self.watchdog: Any = None

    def install(self) -> None:
        import signal

        with contextlib.suppress(ValueError):  # not the main thread (an embedding program): leave it be
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        import signal
        import threading

        self.terminated = self.terminated or signum == signal.SIGTERM
        if not self.stopping and not self.done:
            self.stopping = True
            self.watchdog = threading.Timer(CLEANUP_LIMIT_S, self._give_up)
            self.watchdog.daemon = True
            self.watchdog.start()
            raise KeyboardInterrupt
        if self.stopping and not self.noted:
            self.noted = True
            _note(f"{signal.Signals(signum).name} while cleaning up: sqlmig finishes that first (rollback, "
                  f"history row, lock), for at most {CLEANUP_LIMIT_S:g}s")  # fmt: skip

    def _give_up(self) -> None:
        _note(f"cleanup did not finish within {CLEANUP_LIMIT_S:g}s (the database does not answer): exiting; "
              "the server rolls back the open transaction and releases the lock when the connection ends")  # fmt: skip
        os._exit(EXIT_TERMINATED if self.terminated else EXIT_INTERRUPTED)

    def settle(self, interrupted: bool) -> None:
        """The command is over: stop the watchdog; after an interruption ignore further signals until the
        process exits (restoring Python's handler would let one kill it there), else restore the handlers."""
        import signal

        if self.watchdog is not None:
            self.watchdog.cancel()
        for signum, previous in self.previous.items():
            signal.signal(signum, signal.SIG_IGN if interrupted or self.stopping else previous)
        self.previous = {}


def _note(line: str) -> None:
    """A line on stderr from a signal handler or the watchdog thread: one unbuffered write, which can
    neither re-enter nor wait on the buffered sys.stderr the interrupted code may be writing to."""
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())


def _report(exc: SqlmigError, fmt: str) -> None:
    err(exc.render())
    if fmt == "json":
        out_json(exc.to_dict())
    raise typer.Exit(exc.exit_code) from None


def settings_for(project: Path, database_url: str | None, **flags: Any) -> Any:
    from sqlmig.config import load_settings

    return load_settings(project, database_url=database_url, **flags)


def is_terminal() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def confirm_on_terminal(question: str) -> Callable[[list[str]], bool]:
    """A confirm callback: asks on a terminal, declines otherwise (so --yes is required in scripts)."""

    def ask(items: list[str]) -> bool:
        if not is_terminal():
            return False
        for item in items:
            err(f"  {item}")
        return typer.confirm(question, default=False, err=True)

    return ask
