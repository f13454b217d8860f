"""A second SIGINT or SIGTERM while sqlmig cleans up after the first (the statement cancelled on the server,
the rollback, the failed row, the schema snapshot, the lock): the cleanup is not cut short, no traceback,
the documented exit code (130, or 143 once a SIGTERM came), and every migration applied with its row or
absent. A cleanup the server never lets finish is given up after a bounded time (sqlmig.cli.base)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from sqlmig.cli.base import CLEANUP_LIMIT_S
from tests.db.running import SLEEP, spawn_apply, sqlmig_sessions, wait_for_sleep

KINDS = {  # how the long migration runs: streamed, one query at a time, or without a transaction
    "streamed": {},
    "verify": {"verify": "SELECT true"},
    "none": {"transaction": "none"},
}
PAIRS = {"SIGINT,SIGINT": (signal.SIGINT, signal.SIGINT), "SIGTERM,SIGINT": (signal.SIGTERM, signal.SIGINT)}
HOLD = 4242  # an advisory lock the test holds to keep sqlmig's cleanup waiting


def _project(project, kind: str):
    project.add("00001_first", "CREATE TABLE first (a int);")
    return _long(project, kind)


def _long(project, kind: str):
    return project.add("00002_long", f"CREATE TABLE partial (a int);\n{SLEEP};", manifest=KINDS[kind])


def _code(first: int) -> int:
    return 143 if first == signal.SIGTERM else 130


def _until(check, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _assert_consistent(db, kind: str) -> None:
    """00001 applied; 00002 rolled back without a trace, or (transaction: none) failed after its first
    statement, which stays; sqlmig's session gone and with it the migration lock."""
    history = dict(db.execute("SELECT version, status FROM sqlmig_history").fetchall())
    partial = db.execute("SELECT to_regclass('partial')").fetchone()[0]
    if kind == "none":
        assert history == {"00001": "applied", "00002": "failed"}
        assert db.execute("SELECT statements_done FROM sqlmig_history WHERE version = '00002'").fetchone()[0] == 1
        assert partial == "partial"
    else:
        assert history == {"00001": "applied"} and partial is None
    _until(lambda: sqlmig_sessions(db) == 0, "sqlmig's session outlived it")
    locks = db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid <> %s", (HOLD,))
    assert locks.fetchone()[0] == 0


class _Stderr:
    """The run's stderr, read as it comes (so the test can wait for a line) and whole at the end."""

    def __init__(self, proc) -> None:
        self.proc, self.lines = proc, []
        self.thread = threading.Thread(target=lambda: self.lines.extend(proc.stderr), daemon=True)
        self.thread.start()

    def wait_for(self, text: str) -> None:
        _until(lambda: any(text in line for line in self.lines), f"no {text!r} in {self.lines}")

    def all(self) -> str:
        self.proc.wait(timeout=120)
        self.thread.join(timeout=60)
        return "".join(self.lines)


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_second_signal_at_once_exits_with_the_documented_code(project, database_url, db, cli, kind, pair):
    first, second = PAIRS[pair]
    proc = spawn_apply(_project(project, kind), database_url)
    wait_for_sleep(db, proc)
    proc.send_signal(first)
    proc.send_signal(second)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == _code(first), err
    assert ("terminated (SIGTERM)" if first == signal.SIGTERM else "interrupted:") in err
    assert "Traceback" not in err
    _assert_consistent(db, kind)
    project.add("00002_long", "CREATE TABLE partial (a int);\nSELECT pg_sleep(0);", manifest=KINDS[kind])
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr  # resumed (none) or applied afresh
    assert dict(db.execute("SELECT version, status FROM sqlmig_history").fetchall())["00002"] == "applied"


def _hold_cleanup(db, holder) -> None:
    """Make sqlmig's cleanup wait on a lock the test holds: the schema snapshot it records after the
    interrupted run inserts into the snapshots table, whose trigger takes HOLD."""
    db.execute(f"CREATE FUNCTION wait_for_test() RETURNS trigger LANGUAGE plpgsql AS "
               f"$$ BEGIN PERFORM pg_advisory_xact_lock({HOLD}); RETURN NEW; END $$")  # fmt: skip
    db.execute("CREATE TRIGGER wait_for_test BEFORE INSERT ON sqlmig_history_snapshots "
               "FOR EACH ROW EXECUTE FUNCTION wait_for_test()")  # fmt: skip
    holder.execute("SELECT pg_advisory_lock(%s)", (HOLD,))


def _cleanup_waiting(db) -> bool:
    return bool(db.execute("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                           "WHERE a.application_name = 'sqlmig' AND l.locktype = 'advisory' AND NOT l.granted "
                           "AND l.objid = %s", (HOLD,)).fetchone()[0])  # fmt: skip


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_second_signal_while_cleaning_up_lets_the_cleanup_finish(project, database_url, db, cli, kind, pair):
    import psycopg

    first, second = PAIRS[pair]
    project.add("00001_first", "CREATE TABLE first (a int);")
    assert cli("apply", "--database-url", database_url, "--project", str(project.root)).returncode == 0
    with psycopg.connect(database_url, autocommit=True) as holder:
        _hold_cleanup(db, holder)
        proc = spawn_apply(_long(project, kind), database_url)
        stderr = _Stderr(proc)
        wait_for_sleep(db, proc)
        proc.send_signal(first)
        _until(lambda: _cleanup_waiting(db), "the cleanup never reached the snapshot")
        proc.send_signal(second)
        stderr.wait_for("while cleaning up")  # noted, not raised: the cleanup still waits
        assert proc.poll() is None and _cleanup_waiting(db)
        holder.execute("SELECT pg_advisory_unlock(%s)", (HOLD,))
        err = stderr.all()
    assert proc.returncode == _code(first), err
    assert "Traceback" not in err
    assert db.execute("SELECT count(*) FROM sqlmig_history_snapshots").fetchone()[0] == 2  # the cleanup finished
    _assert_consistent(db, kind)


def test_a_cleanup_that_never_finishes_is_given_up(project, database_url, db, cli):
    import psycopg

    project.add("00001_first", "CREATE TABLE first (a int);")
    assert cli("apply", "--database-url", database_url, "--project", str(project.root)).returncode == 0
    with psycopg.connect(database_url, autocommit=True) as holder:
        _hold_cleanup(db, holder)
        proc = spawn_apply(_long(project, "streamed"), database_url)
        stderr = _Stderr(proc)
        wait_for_sleep(db, proc)
        proc.send_signal(signal.SIGTERM)
        _until(lambda: _cleanup_waiting(db), "the cleanup never reached the snapshot")
        proc.send_signal(signal.SIGINT)
        err = stderr.all()  # the test still holds the lock: sqlmig gives up after CLEANUP_LIMIT_S
        assert proc.returncode == 143, err
        assert f"cleanup did not finish within {CLEANUP_LIMIT_S:g}s" in err and "Traceback" not in err
    _assert_consistent(db, "streamed")  # the server ended the session once the test let go


def test_a_server_that_does_not_answer_the_cancel_is_given_up(project, database_url, db):
    """The backend running the statement is stopped (SIGSTOP): the cancel is sent but nothing answers."""
    proc = spawn_apply(_project(project, "streamed"), database_url)
    (pid,) = wait_for_sleep(db, proc)
    try:
        os.kill(pid, signal.SIGSTOP)
    except (PermissionError, ProcessLookupError):
        proc.kill()
        pytest.skip("the server's processes cannot be signalled from here")
    try:
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    _assert_consistent(db, "streamed")  # the backend, let go, ran the cancel and saw the client gone
