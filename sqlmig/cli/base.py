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


def _write(line: str, stream: Any) -> None:
    """Print one line. When the reader has gone (`sqlmig status | head`), the rest of the stream goes
    to /dev/null and the command carries on: a closed pipe never cuts a migration in half, and the
    exit code stays the command's own (README, "Exit codes")."""
    try:
        print(line, file=stream, flush=True)
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # not a real file descriptor (a test's captured stream)
            pass


def run(fmt: Format | str, fn: Callable[[], int | None]) -> None:
    """Run a command body; map SqlmigError to its exit code and a message, never a traceback."""
    fmt = getattr(fmt, "value", fmt)
    terminated: list[int] = []
    _on_sigterm(terminated)
    try:
        code = fn() or 0
    except SqlmigError as exc:
        _report(exc, fmt)
    except KeyboardInterrupt:
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        err(f"{what}: a transactional migration in progress was rolled back; "
            "a `transaction: none` migration resumes at its next statement on the next apply")  # fmt: skip
        raise typer.Exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED) from None
    except OSError as exc:  # a file sqlmig had to read or write: permissions, a full disk
        failure = SqlmigError(str(exc), hint="check the path, its permissions and the free space")
        failure.exit_code = EXIT_FAILED
        _report(failure, fmt)
    raise typer.Exit(code)


def _on_sigterm(terminated: list[int]) -> None:
    """SIGTERM (a deploy's timeout, a stopped pod) does what Ctrl-C does: the statement in progress is
    cancelled on the server and rolled back, rather than left running after the client is gone."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (an embedding program): leave it be
        signal.signal(signal.SIGTERM, handler)


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
