"""Read a project ahead, in two child processes, while `apply` or `plan` starts up.

On a fresh checkout (a deploy job's), every manifest must be parsed and validated and every
pending file split before the first migration runs: YAML, JSON Schema and sqlglot, with imports
of 10-60 ms each, about 0.25 s for 500 migrations on one core, while the others wait. So
`sqlmig apply` forks before importing anything heavy: one child validates the manifests and
fills the manifest cache (sqlmig.manifest_cache), another splits the forward files and fills the
statement cache (sqlmig.statement_cache). Meanwhile the parent imports Typer and psycopg and
parses its command line; once the manifests are cached it reads the project and connects, and
once the files are split it checks them, all from the caches, as on a second run.

The children only warm caches; nothing depends on them. What a child cannot read or validate
is not cached: the parent reads it and reports the error itself, and if a child dies the parent
does its work. They print nothing and end with os._exit (never running the parent's exit
handlers). A run with few pending migrations does not wait for every file to be split: the
parent stops that child and splits its own few. Not on a single CPU, where the children would
only add work; SQLMIG_PREFETCH=0 turns it off.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

MANIFESTS, STATEMENTS = "manifests", "statements"
WAIT_LIMIT_S = 60.0  # a child silent this long is stuck (a file that never ends): stop it, do its work


class Child:
    """The parent's handle on one child: it writes one byte when its cache is saved, then exits."""

    def __init__(self, pid: int, pipe: int) -> None:
        self.pid, self.pipe = pid, pipe
        self.done = False  # its cache is saved
        self.over = False  # it has exited, or was stopped, and is reaped

    def finished(self, *, wait: bool = True) -> bool:
        """Whether the child saved its cache; with `wait`, until it does or ends."""
        import select

        if not self.over:
            ready, _, _ = select.select([self.pipe], [], [], WAIT_LIMIT_S if wait else 0)
            if ready:
                self.done = os.read(self.pipe, 1) == b"."
                self._reap()
            elif wait:
                self.stop()
        return self.done

    def stop(self) -> None:
        """End the child if it still runs, and reap it (it holds SIGTERM while writing its cache)."""
        import signal

        if not self.over:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            self._reap()

    def _reap(self) -> None:
        if not self.over:
            self.over = True
            os.close(self.pipe)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)


children: dict[str, Child] = {}  # set by start() in the parent, read by sqlmig.migrator


def ready(kind: str) -> None:
    """Wait until the `kind` cache is warm (or its child is gone)."""
    if kind in children:
        children[kind].finished()


def before_split(pending: int, total: int) -> None:
    """Before the parent splits its `pending` forward files of `total`: take the child's split when it
    is done, or wait for it when at least half the files are pending; else stop it (the parent's
    own few splits cost less than waiting for all of them)."""
    child = children.get(STATEMENTS)
    if child is None or child.finished(wait=False):
        return
    if pending and pending * 2 >= total:
        child.finished()
    else:
        child.stop()


def start(argv: list[str]) -> None:
    """Fork the children for `sqlmig apply` and `sqlmig plan` (not `plan --rollback`, nor `--help`)."""
    if not argv or argv[0] not in ("apply", "plan") or not hasattr(os, "fork"):
        return
    if os.environ.get("SQLMIG_PREFETCH", "").strip() == "0" or _cpus() < 2:
        return
    if any(a in ("--help", "-h", "--rollback") for a in argv):
        return
    project = _project_arg(argv[1:])
    if project is None or not _cache_usable(project):
        return
    import sqlmig.project  # noqa: F401 - all three need it: imported once, before the fork, not three times

    for kind in (MANIFESTS, STATEMENTS):
        child = fork(lambda kind=kind: _warm(kind, project))
        if child is None:
            break
        children[kind] = child
    if children:
        import atexit

        atexit.register(stop_all)


def stop_all() -> None:
    for child in children.values():
        child.stop()


def fork(work: Callable[[], None]) -> Child | None:
    """A child process that runs `work` quietly and writes one byte when it returns; None when the
    system cannot start one (no memory or process slot: the parent starts up without it)."""
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid == 0:
        os.close(read)
        for child in children.values():
            os.close(child.pipe)
        _child(work, write)
    os.close(write)
    return Child(pid, read)


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _project_arg(args: list[str]) -> str | None:
    """The --project value as Typer will read it ('.' when not given), or None when it cannot be told."""
    project = "."
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg in ("--project", "-p"):
            if i + 1 >= len(args):
                return None
            project = args[i + 1]
        elif arg.startswith("--project="):
            project = arg.split("=", 1)[1]
        elif arg.startswith("-p") and not arg.startswith("--"):
            project = arg[2:]
    return project


def _cache_usable(project: str) -> bool:
    """Whether there is a cache folder to warm (with no home folder, the caches are not used)."""
    from pathlib import Path

    from sqlmig import content_cache

    try:
        content_cache.cache_path(STATEMENTS, Path(project))
    except (RuntimeError, KeyError, OSError):
        return False
    return True


def _child(work: Callable[[], None], pipe: int) -> None:
    """Run `work` with no terminal output, say so with one byte; never return."""
    try:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C reaches the whole process group: just end
        signal.signal(signal.SIGTERM, _terminated)
        quiet = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(quiet, fd)
        work()
        os.write(pipe, b".")
    except BaseException:  # whatever it is, the parent reads the files itself
        pass
    finally:
        os._exit(0)


def _warm(kind: str, project: str) -> None:
    import signal

    from sqlmig.config import load_settings
    from sqlmig.project import warm_cache

    settings = load_settings(project)
    warm_cache(settings, kind, hold=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}))


def _terminated(signum: int, frame: object) -> None:
    sys.exit(0)
