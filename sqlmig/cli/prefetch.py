"""Read a project ahead, in a child process, while `sqlmig apply` or `sqlmig plan` starts up.

On a fresh checkout (a deploy job's) every manifest must be parsed and validated, and every
pending file split, before the first migration runs: YAML, JSON Schema and sqlglot, with their
imports about 0.25 s for 500 migrations, on one core while the other is idle. So when the
project's caches (sqlmig.manifest_cache, sqlmig.statement_cache) do not exist yet, `main()`
forks one child before importing Typer. It validates the manifests and saves their cache, says
so, then splits the forward files and saves theirs. Meanwhile the parent imports Typer and
psycopg and parses its command line; it reads the project once the manifests are cached, and
splits (from the cache) once the files are. With few files pending it does not wait for the
whole split: it stops the child and splits its own few.

The child only warms caches; nothing depends on it. What it cannot read or validate is not
cached, and the parent reads it and reports the error itself; if the child dies, the parent
does its work. It prints nothing and ends with os._exit. Not when the caches exist (a later
run reads them directly), nor with fewer than two CPUs (affinity or cgroup quota), where it
would only compete with the parent; SQLMIG_PREFETCH=0 turns it off.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

MANIFESTS, STATEMENTS = b"m", b"s"  # what the child writes to its pipe after saving each cache
WAIT_LIMIT_S = 60.0  # a child silent this long is stuck (a file that never ends): stop it, do its work
CHILD_LIMIT_S = 300  # the child's own limit, for when no parent is left to stop it
# Options of apply and plan that take a value (skipped while looking for --project).
_VALUED = {"--to", "--phase", "--steps", "--database-url", "-d", "--lock-wait", "--format", "-f"}


class ReadAhead:
    """The parent's handle on the child: the hooks sqlmig.migrator.Migrator calls."""

    def __init__(self, pid: int, pipe: int) -> None:
        self.pid, self.pipe = pid, pipe
        self.said = b""
        self.asked = False  # SIGTERM sent
        self.over = False  # the child has exited, or was stopped, and is reaped

    def manifests(self) -> None:
        """Before the project is read: wait until the manifests are cached (or the child is gone)."""
        import psycopg  # noqa: F401 - what the parent needs next (to connect), imported while the child works

        self._reached(MANIFESTS, WAIT_LIMIT_S)

    def before_split(self, pending: int, total: int) -> None:
        """Before the `pending` forward files (of `total`) are split: take the child's split when it is
        saved, or wait for it when at least half the files are pending; else stop the child (the
        parent's own few splits cost less than waiting for all of them)."""
        if not self._reached(STATEMENTS, 0) and pending and pending * 2 >= total:
            self._reached(STATEMENTS, WAIT_LIMIT_S)
        self.stop(wait=False)  # done (it is exiting), or not worth waiting for; reaped at exit

    def _reached(self, stage: bytes, wait_s: float) -> bool:
        import select

        while stage not in self.said and not self.over:
            ready, _, _ = select.select([self.pipe], [], [], wait_s)
            if not ready:
                if wait_s:
                    self.stop()
                break
            got = os.read(self.pipe, 8)
            self.said += got
            if not got:  # the child has exited
                self.stop()
        return stage in self.said

    def stop(self, *, wait: bool = True) -> None:
        """End the child if it still runs (SIGTERM, SIGKILL after a second) and reap it; without `wait`,
        only ask it to end (the exit handler reaps it), so the parent goes on at once."""
        import signal
        import time

        if not self.over and not self.asked:
            self.asked = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
        if self.over or not wait:
            return
        deadline = time.monotonic() + 1.0
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    break
                time.sleep(0.002)
        self.over = True
        os.close(self.pipe)


started: ReadAhead | None = None  # set by start() in the parent, for sqlmig.cli.migrate


def start(argv: list[str]) -> None:
    """Fork the child for `sqlmig apply` and `sqlmig plan` (not `plan --rollback`, nor `--help`) when
    the project's caches are missing."""
    global started
    if not argv or argv[0] not in ("apply", "plan") or not hasattr(os, "fork"):
        return
    if os.environ.get("SQLMIG_PREFETCH", "").strip() == "0" or any(a in ("--help", "-h", "--rollback") for a in argv):
        return
    project = project_arg(argv[1:])
    if project is None or _cpus() < 2:
        return
    missing = _missing_caches(project)
    if not missing:
        return
    started = fork(lambda say: _warm(project, missing, say))
    if started is not None:
        import atexit

        atexit.register(started.stop)


def fork(work: Callable[[Callable[[bytes], object]], None]) -> ReadAhead | None:
    """A child process that runs `work(say)` with no terminal and no exit handlers; None when the system
    cannot start one (no memory or process slot: the parent starts up without it)."""
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid == 0:
        try:  # nested: a signal's SystemExit raised in the handler below still ends here, never in main()
            try:
                import signal

                for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
                    signal.signal(signum, _terminated)  # SystemExit: a cache file being written is removed
                signal.alarm(CHILD_LIMIT_S)  # orphaned (the parent killed) and stuck on a file: end anyway
                os.close(read)
                quiet = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(quiet, fd)
                # once the parent is gone, writing to the pipe fails (EPIPE): the child ends at its next stage
                work(lambda stage: os.write(write, stage))
            except BaseException:  # whatever it is, the parent reads the files itself
                pass
        finally:
            os._exit(0)
    os.close(write)
    return ReadAhead(pid, read)


def project_arg(args: list[str]) -> str | None:
    """The --project value as Typer will read it ('.' when not given), or None when unsure (a cluster
    of short options holding p, an option missing its value)."""
    project, i = ".", 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            break
        if arg in ("--project", "-p"):
            if i + 1 >= len(args):
                return None
            project, i = args[i + 1], i + 2
            continue
        if arg in _VALUED:
            i += 2
            continue
        if arg.startswith("--project="):
            project = arg.split("=", 1)[1]
        elif arg.startswith("-p"):
            project = arg[2:]
        elif arg.startswith("-") and not arg.startswith("--") and "p" in arg:
            return None
        i += 1
    return project


def _cpus() -> int:
    """CPUs this process may use: its affinity, and a cgroup v2 CPU quota (a container's limit)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    with contextlib.suppress(OSError, ValueError):
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, int(int(quota) / int(period)))
    return cpus


def _missing_caches(project: str) -> tuple[str, ...]:
    """The project's caches that do not exist yet, in a cache folder sqlmig can write to; () when
    none is missing or there is nowhere to write them."""
    from pathlib import Path

    from sqlmig import content_cache

    try:
        paths = {kind: content_cache.cache_path(kind, Path(project)) for kind in ("manifests", "statements")}
    except (RuntimeError, KeyError, OSError, ValueError):  # no home folder; a path that is not text
        return ()
    folder = next(iter(paths.values())).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK):
        return ()
    return tuple(kind for kind, path in paths.items() if not path.exists())


def _warm(project: str, kinds: tuple[str, ...], say: Callable[[bytes], object]) -> None:
    from sqlmig.config import load_settings
    from sqlmig.project import warm_cache

    settings = load_settings(project)
    for kind, stage in (("manifests", MANIFESTS), ("statements", STATEMENTS)):
        if kind not in kinds or warm_cache(settings, kind):
            say(stage)


def _terminated(signum: int, frame: object) -> None:
    sys.exit(0)
