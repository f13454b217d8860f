"""The `sqlmig` command. `--version` answers before Typer (and everything else) is imported."""

from __future__ import annotations

import contextlib
import errno
import os
import sys


def main() -> None:
    """The console script. Ends the process itself once the command is over (see `_exit`)."""
    _closed_at_start()
    try:
        if sys.argv[1:] in (["--version"], ["-V"]):
            from sqlmig import __version__

            print(f"sqlmig {__version__}", flush=True)
            return
        from sqlmig.cli import gcpause, prefetch

        gcpause.pause(sys.argv[1:])  # first: the child below inherits it
        prefetch.start(sys.argv[1:])  # before Typer: the child reads the project while the parent imports
        from sqlmig.cli.app import app

        try:
            app(prog_name="sqlmig")
        except SystemExit as done:
            if done.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
                done = SystemExit(0)  # Typer's own exit when help or the version met a reader that has gone
            _exit(done)
        _exit(SystemExit(0))
    except KeyboardInterrupt:  # Ctrl-C outside a command's body (which handles its own): starting, ending
        from sqlmig.errors import EXIT_INTERRUPTED

        with contextlib.suppress(OSError):
            sys.stderr.write("interrupted while sqlmig was starting or ending: no migration was in progress\n")
        _exit(SystemExit(EXIT_INTERRUPTED))
    except OSError as exc:  # text outside a command's body (help, a usage error, the version) not written
        if exc.errno not in _OUTPUT_ERRNOS:
            raise  # not what writing text fails with: a bug, shown as one
        _exit(SystemExit(_unwritten_code(exc)))


# What a write to a terminal, pipe or file fails with: the reader gone, a full disk or quota, an I/O error.
_OUTPUT_ERRNOS = frozenset({errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def _unwritten_code(exc: OSError) -> int:
    """The exit code when help, a usage error or the version could not be written: a usage error keeps
    its own (2); a reader that has gone is no failure (0); a full disk or an I/O error is (1)."""
    if not isinstance(exc, BrokenPipeError):
        with contextlib.suppress(OSError):
            sys.stderr.write(f"error: the output could not be written ({exc.strerror or exc})\n")
            sys.stderr.flush()
    for stream in (sys.stdout, sys.stderr):
        _discard(stream)
    shown = getattr(exc.__context__, "exit_code", None)  # the click exception whose message was being shown
    if isinstance(shown, int):
        return shown
    return 0 if isinstance(exc, BrokenPipeError) else 1


def _discard(stream: object) -> None:
    """The rest of a stream goes to /dev/null (its reader has gone, or it cannot be written)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no descriptor: a test's captured stream
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())  # type: ignore[attr-defined]
        os.close(null)


def _closed_at_start() -> None:
    """A standard stream closed when sqlmig started (`2>&-`, `<&- >&-`) is /dev/null instead: its output
    is dropped, as for a reader that has gone, rather than failing the command (Python leaves
    sys.stderr None), and a program sqlmig starts (pg_dump, the embedded PostgreSQL) does not find
    the descriptor free and open a file of its own there."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False))  # noqa: SIM115 - for the process's life


def _exit(done: SystemExit) -> None:
    """Exit without tearing the interpreter down.

    Python's own exit frees every module and object one by one: with psycopg, sqlglot and
    jsonschema loaded and a project's files split, that takes 50-130 ms, more than some
    commands' own work. The command is over, its connection closed and its files written,
    so the process flushes its output, runs the atexit handlers (logging; the embedded
    PostgreSQL's stop) and ends. Anything unusual takes Python's normal way out: a non-daemon
    thread still running (Python would wait for it), a tracer or profiler, output that cannot
    be flushed (a closed pipe: Python reports it), or an exit with a message, not a number.
    """
    import contextlib
    import os
    import threading

    code = done.code
    if code is None:
        code = 0
    lost = getattr(sys.modules.get("sqlmig.cli.base"), "_unwritten", None)  # stdout writes that failed
    if lost:
        with contextlib.suppress(OSError):
            sys.stderr.write(f"error: the output on stdout is incomplete: it could not be written "
                             f"({lost[0].strerror or lost[0]})\n")  # fmt: skip
        if code == 0:
            code = 1
            done = SystemExit(1)
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if not isinstance(code, int) or not 0 <= code <= 255 or any(not t.daemon for t in others):
        raise done
    if sys.gettrace() is not None or sys.getprofile() is not None:
        raise done  # coverage, cProfile: they write their results at exit
    streams = (sys.stdout, sys.stderr)  # never None: main() put /dev/null in place of one closed at start
    try:
        for stream in streams:
            stream.flush()
    except (OSError, ValueError):
        raise done from None
    import atexit

    atexit._run_exitfuncs()  # what CPython's own exit runs
    for stream in streams:
        with contextlib.suppress(OSError, ValueError):
            stream.flush()  # an atexit handler may have printed
    os._exit(code)
