"""The child that reads a project ahead (sqlmig.cli.prefetch): which commands start it, that it fills the
caches with exactly what the parent would derive, leaves out what does not validate, and is always reaped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from sqlmig import content_cache
from sqlmig.cli import prefetch
from sqlmig.project import load_project


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    monkeypatch.delenv("SQLMIG_PREFETCH", raising=False)
    monkeypatch.setattr(prefetch, "_cpus", lambda: 2)  # as on a machine of two CPUs or more
    yield tmp_path / "cache-home"
    if prefetch.started is not None:
        prefetch.started.stop()
    prefetch.started = None


def _entries(kind: str, project) -> dict:
    path = content_cache.cache_path(kind, project.root)
    return json.loads(path.read_text())["entries"] if path.exists() else {}


def _sha(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("args", "project"),
    [
        ([], "."),
        (["--to", "3"], "."),
        (["-p", "x"], "x"),
        (["--project", "a b"], "a b"),
        (["--project=y", "--yes"], "y"),
        (["-pz"], "z"),
        (["--phase", "expand", "-p", "q"], "q"),
        (["-p", "-px"], "-px"),
        (["-d", "-p", "-p", "r"], "r"),
        (["--", "-p", "ignored"], "."),
        (["-yp", "x"], None),
        (["-p"], None),
    ],
)
def test_project_arg_reads_the_project_option_as_typer_does(args, project):
    assert prefetch.project_arg(args) == project


@pytest.mark.parametrize("command", ["apply", "plan"])
def test_project_arg_agrees_with_typer(command):
    """Where the parser gives an answer, it is the folder sqlmig's own command line hands the command."""
    import typer

    from sqlmig.cli.app import app

    cmd = typer.main.get_command(app).commands[command]
    for args in (["-p", "a"], ["-d", "-p", "-p", "b"], ["--to", "-pq", "-pc"], ["-f", "json", "--project=d"],
                 ["-pe", "--to", "3"], ["--phase", "-p"], [], ["-d", "x", "--", "-p", "y"]):  # fmt: skip
        ctx = cmd.make_context(command, list(args), resilient_parsing=True)
        assert prefetch.project_arg(args) == str(ctx.params["project"]), args


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["lint", "x.sql"],
        ["rollback", "--steps", "1"],
        ["plan", "--rollback", "--steps", "1"],
        ["apply", "--help"],
        [],
    ],
)
def test_no_child_for_other_commands(project, argv):
    project.add("00001_a", "CREATE TABLE a (id int);")
    prefetch.start([*argv, "-p", str(project.root)] if argv else argv)
    assert prefetch.started is None


def test_no_child_when_turned_off_on_one_cpu_or_with_the_caches_there(project, monkeypatch):
    project.add("00001_a", "CREATE TABLE a (id int);")
    argv = ["apply", "-p", str(project.root)]
    monkeypatch.setenv("SQLMIG_PREFETCH", "0")
    prefetch.start(argv)
    assert prefetch.started is None
    monkeypatch.delenv("SQLMIG_PREFETCH")
    monkeypatch.setattr(prefetch, "_cpus", lambda: 1)
    prefetch.start(argv)
    assert prefetch.started is None
    monkeypatch.setattr(prefetch, "_cpus", lambda: 2)
    loaded = load_project(project.settings())  # a command ran before: both caches exist
    loaded.migrations[0].up.statements  # noqa: B018
    loaded.save_caches()
    prefetch.start(argv)
    assert prefetch.started is None


def test_no_child_when_the_cache_folder_cannot_be_written(project, monkeypatch, tmp_path):
    project.add("00001_a", "CREATE TABLE a (id int);")
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(locked / "cache"))
    monkeypatch.setattr(os, "access", lambda path, mode: os.path.realpath(path) != str(locked.resolve()))
    prefetch.start(["apply", "-p", str(project.root)])
    assert prefetch.started is None


def test_the_child_fills_both_caches_as_the_parent_would(project, monkeypatch):
    for i in range(1, 13):
        project.add(f"{i:05d}_t{i}", f"-- t{i}\nCREATE TABLE t{i} (id int);\nCREATE INDEX ON t{i} (id);\n")
    prefetch.start(["apply", "-p", str(project.root), "--yes"])
    child = prefetch.started
    assert child is not None
    child.manifests()
    child.before_split(12, 12)  # every file pending: waits for the split
    assert child.said == prefetch.MANIFESTS + prefetch.STATEMENTS

    manifests, statements = _entries("manifests", project), _entries("statements", project)
    assert set(statements) == {_sha(p) for p in (project.root / "migrations").iterdir()}
    assert set(manifests) == {_sha(p) for p in (project.root / "manifests").iterdir()}

    # the parent's own derivation, in a cache folder of its own, gives the same entries
    monkeypatch.setenv("XDG_CACHE_HOME", str(project.root.parent / "parent-cache"))
    loaded = load_project(project.settings())
    for m in loaded.migrations:
        m.up.statements  # noqa: B018
    loaded.save_caches()
    assert _entries("manifests", project) == manifests
    assert {k: v for k, v in _entries("statements", project).items() if k in statements} == statements


def test_the_child_leaves_out_what_does_not_validate(project):
    project.add("00001_ok", "CREATE TABLE ok (id int);")
    project.add("00002_bad_sql", "INSERT INTO t VALUES ('never closed);")
    project.add("00003_bad_manifest", "CREATE TABLE c (id int);", manifest="description: x\nphase: sideways\n")
    project.add("00004_meta", "\\i other.sql\n")
    prefetch.start(["plan", "-p", str(project.root)])
    assert prefetch.started is not None
    prefetch.started.manifests()
    prefetch.started.before_split(4, 4)
    manifests, statements = _entries("manifests", project), _entries("statements", project)
    mig, man = project.root / "migrations", project.root / "manifests"
    assert _sha(man / "00003_bad_manifest.yaml") not in manifests
    assert _sha(man / "00001_ok.yaml") in manifests
    assert set(statements) == {_sha(mig / "00001_ok.sql"), _sha(mig / "00003_bad_manifest.sql")}


def _slow(say) -> None:
    say(prefetch.MANIFESTS)
    time.sleep(30)


def test_few_pending_stops_the_split_and_reaps_it():
    child = prefetch.fork(_slow)
    assert child is not None
    child.manifests()
    assert child.said == prefetch.MANIFESTS
    child.before_split(1, 10)  # asked to end, not waited for: the parent goes on
    assert child.asked and not child.over
    child.stop()  # what the exit handler does
    assert child.over
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)  # reaped: no zombie left


def test_most_pending_waits_for_the_split():
    def split_later(say) -> None:
        say(prefetch.MANIFESTS)
        time.sleep(0.3)
        say(prefetch.STATEMENTS)

    child = prefetch.fork(split_later)
    assert child is not None
    child.before_split(6, 10)
    assert child.said == prefetch.MANIFESTS + prefetch.STATEMENTS


def test_a_child_that_dies_leaves_the_work_to_the_parent():
    def crash(say) -> None:
        raise RuntimeError("boom")

    child = prefetch.fork(crash)
    assert child is not None
    child.manifests()
    assert child.said == b"" and child.over
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)


def test_a_silent_child_is_stopped_after_the_limit(monkeypatch):
    monkeypatch.setattr(prefetch, "WAIT_LIMIT_S", 0.2)
    child = prefetch.fork(lambda say: time.sleep(30))
    assert child is not None
    child.manifests()
    assert child.said == b"" and child.over


def test_a_child_that_ignores_sigterm_is_killed():
    import signal

    def stubborn(say) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say(prefetch.MANIFESTS)
        time.sleep(30)

    child = prefetch.fork(stubborn)
    assert child is not None
    child.manifests()
    child.stop()
    assert child.over
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)


def test_an_orphan_stuck_on_a_file_ends_by_itself(monkeypatch, tmp_path):
    """A FIFO named like a migration blocks a read forever; a child whose parent was killed still ends."""
    fifo = tmp_path / "00001_fifo.sql"
    os.mkfifo(fifo)
    monkeypatch.setattr(prefetch, "CHILD_LIMIT_S", 1)
    child = prefetch.fork(lambda say: fifo.read_bytes())
    assert child is not None
    child.manifests()  # returns when the child is gone: ended by its own limit, not stopped
    assert child.said == b"" and child.over


def test_a_save_cut_short_leaves_no_file_for_long(tmp_path, monkeypatch):
    from sqlmig.content_cache import STALE_S, ContentCache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    cache = ContentCache("statements", tmp_path, "stamp")
    cache.put("k", [1])
    folder = cache.path.parent
    folder.mkdir(parents=True)
    old, recent = folder / ".statements-old1", folder / ".statements-now1"
    old.write_text("{")
    recent.write_text("{")
    os.utime(old, (time.time() - STALE_S - 5, time.time() - STALE_S - 5))
    assert cache.save()
    assert not old.exists() and recent.exists()  # a save in progress elsewhere is left alone
    assert json.loads(cache.path.read_text())["entries"] == {"k": [1]}


def test_a_project_path_that_is_not_utf8(tmp_path, project):
    odd = tmp_path / os.fsdecode(b"odd_\xff")
    project.root.rename(odd)
    project.root = odd
    project.add("00001_a", "CREATE TABLE a (id int);")
    assert content_cache.cache_path("statements", odd).name.startswith("statements-")
    prefetch.start(["apply", "-p", str(odd)])
    assert prefetch.started is not None
    prefetch.started.before_split(1, 1)
    assert _entries("statements", project)
    done = subprocess.run([sys.executable, "-m", "sqlmig", "apply", "-p", str(odd), "--bogus"], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "No such option" in done.stderr and "Traceback" not in done.stderr


def test_an_orphan_stops_before_its_next_stage(tmp_path):
    """The parent killed before it could stop the child: the child's next word to it fails (a pipe with no
    reader) and it does not go on to the next stage's work."""
    marker, pidfile = tmp_path / "went-on", tmp_path / "pid"
    code = f"""
import os, time
from sqlmig.cli import prefetch
def work(say):
    time.sleep(0.5)  # the parent is gone by then
    say(prefetch.MANIFESTS)
    open({str(marker)!r}, "w").write("split")
child = prefetch.fork(work)
open({str(pidfile)!r}, "w").write(str(child.pid))
os._exit(0)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert pidfile.read_text().isdigit()
    time.sleep(1.5)
    assert not marker.exists()
