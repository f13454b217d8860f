"""Ctrl-C (SIGINT) during a long statement: the statement is cancelled on the server, a transactional
migration rolls back, a `transaction: none` one records how far it got, and the lock is released."""

from __future__ import annotations

import signal

from tests.db.running import spawn_apply, sqlmig_sessions, wait_for_sleep


def _interrupt_during_sleep(db, proc) -> tuple[str, str]:
    wait_for_sleep(db, proc)
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=60)


def test_ctrl_c_rolls_back_a_transactional_migration(project, database_url, db, cli):
    project.add("00001_first", "CREATE TABLE first (a int);")
    project.add("00002_long", "CREATE TABLE partial (a int);\nINSERT INTO first VALUES (1);\nSELECT pg_sleep(600);")
    proc = spawn_apply(project, database_url)
    _out, err = _interrupt_during_sleep(db, proc)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert db.execute("SELECT to_regclass('partial')").fetchone()[0] is None
    assert db.execute("SELECT count(*) FROM first").fetchone()[0] == 0  # 00001 stays, 00002 left no trace
    assert dict(db.execute("SELECT version, status FROM sqlmig_history").fetchall()) == {"00001": "applied"}
    assert sqlmig_sessions(db) == 0
    assert db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0] == 0
    project.add("00002_long", "CREATE TABLE partial (a int);\nINSERT INTO first VALUES (1);")
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr


def test_ctrl_c_in_a_transaction_none_migration_records_progress_and_resumes(project, database_url, db, cli):
    none = {"transaction": "none"}
    project.add("00001_steps", "CREATE TABLE a (x int);\nSELECT pg_sleep(600);\nCREATE TABLE b (x int);",
                manifest=none)  # fmt: skip
    proc = spawn_apply(project, database_url)
    _out, err = _interrupt_during_sleep(db, proc)
    assert proc.returncode == 130, err
    assert db.execute("SELECT to_regclass('a'), to_regclass('b')").fetchone() == ("a", None)
    status, done, error = db.execute("SELECT status, statements_done, error FROM sqlmig_history").fetchone()
    assert (status, done) == ("failed", 1) and "interrupted" in error
    assert sqlmig_sessions(db) == 0
    project.add("00001_steps", "CREATE TABLE a (x int);\nSELECT pg_sleep(0);\nCREATE TABLE b (x int);", manifest=none)
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr
    assert "resuming at statement 2" in res.stderr
    assert db.execute("SELECT to_regclass('b')").fetchone()[0] == "b"


def test_sigterm_cancels_and_rolls_back_like_ctrl_c(project, database_url, db):
    # what a deploy's timeout or a stopped pod sends: the statement must not run on after the client is gone
    project.add("00001_first", "CREATE TABLE first (a int);")
    project.add("00002_long", "CREATE TABLE partial (a int);\nSELECT pg_sleep(600);")
    proc = spawn_apply(project, database_url)
    wait_for_sleep(db, proc)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    assert db.execute("SELECT to_regclass('partial')").fetchone()[0] is None
    assert dict(db.execute("SELECT version, status FROM sqlmig_history").fetchall()) == {"00001": "applied"}
    assert sqlmig_sessions(db) == 0  # the sleep was cancelled on the server, not left running
