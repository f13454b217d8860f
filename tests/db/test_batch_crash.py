"""A batched backfill survives kill -9 and Ctrl-C: it resumes from its checkpoint, no row twice, none skipped."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import psycopg

ROWS = 40_000


def _setup(project, db, **batch) -> None:
    db.execute("CREATE TABLE items (id bigint PRIMARY KEY, n integer NOT NULL, orig integer NOT NULL)")
    db.execute(f"INSERT INTO items SELECT g, g * 3, g * 3 FROM generate_series(1, {ROWS}) g")
    project.add(
        "00001_bump",
        "UPDATE items SET n = n + 1 WHERE id BETWEEN :batch_start AND :batch_end;",
        "SELECT 1;",
        {"phase": "migrate", "batch": {"table": "items", **batch}},
    )


def _start(project, database_url) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLMIG_DATABASE_URL")}
    return subprocess.Popen(
        [sys.executable, "-m", "sqlmig", "apply", "--database-url", database_url, "--project", str(project.root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _batches_done(db) -> int:
    if db.execute("SELECT to_regclass('sqlmig_history_checkpoints')").fetchone()[0] is None:
        return 0
    row = db.execute("SELECT coalesce(sum(batches), 0) FROM sqlmig_history_checkpoints").fetchone()
    return int(row[0])


def _wait_for_batches(db, proc: subprocess.Popen, at_least: int, timeout: float = 60) -> bool:
    """Poll until the run has committed `at_least` batches in total; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _batches_done(db) >= at_least:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError("the batched migration made no progress")


def _bumped(db) -> tuple[int, int, int]:
    """(rows bumped once, rows untouched, rows bumped more than once)."""
    return db.execute(
        "SELECT count(*) FILTER (WHERE n = orig + 1), count(*) FILTER (WHERE n = orig), "
        "count(*) FILTER (WHERE n > orig + 1) FROM items"
    ).fetchone()


def _resumes_to_exactly_once(project, database_url, db) -> int:
    """After a stopped run: no row changed twice; a new apply finishes and changes each row exactly once.
    Returns how many rows the stopped run had changed."""
    once, _untouched, twice = _bumped(db)
    assert twice == 0 and 0 < once < ROWS
    proc = _start(project, database_url)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _bumped(db) == (ROWS, 0, 0)
    return once


def test_kill_9_at_random_moments_then_resume_changes_each_row_exactly_once(project, database_url, db):
    _setup(project, db, size=300, min_size=100, max_size=300, target_ms=20, sleep_ms=20)
    rng = random.Random(os.environ.get("SQLMIG_TEST_SEED", str(time.time_ns())))
    kills_mid_run = 0
    for _ in range(5):
        proc = _start(project, database_url)
        if not _wait_for_batches(db, proc, _batches_done(db) + 1):
            break  # it finished before we could kill it
        time.sleep(rng.uniform(0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        if proc.returncode == -signal.SIGKILL:
            kills_mid_run += 1
        # One statement, one snapshot: the killed client's backend may still be committing its last batch.
        once, twice, done = db.execute(
            "SELECT count(*) FILTER (WHERE n = orig + 1), count(*) FILTER (WHERE n > orig + 1), "
            "(SELECT keys_done FROM sqlmig_history_checkpoints) FROM items"
        ).fetchone()
        assert twice == 0
        assert once == done  # the checkpoint and the data committed together
    assert kills_mid_run >= 3, f"only {kills_mid_run} kills landed before the backfill finished"
    proc = _start(project, database_url)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _bumped(db) == (ROWS, 0, 0)
    assert db.execute("SELECT status FROM sqlmig_history WHERE version = '00001'").fetchone()[0] == "applied"


def test_ctrl_c_stops_between_batches_and_apply_resumes(project, database_url, db):
    _setup(project, db, size=500, min_size=500, max_size=500, sleep_ms=100)
    proc = _start(project, database_url)
    assert _wait_for_batches(db, proc, 2)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopped after batch" in err and "resumes after the last committed range" in err
    assert "Traceback" not in err
    once = _bumped(db)[0]
    assert once % 500 == 0  # whole batches only
    assert db.execute("SELECT status FROM sqlmig_history").fetchone()[0] == "running"
    with psycopg.connect(database_url, autocommit=True) as conn:
        last = conn.execute("SELECT last_key FROM sqlmig_history_checkpoints").fetchone()[0]
    assert int(last[0]) == once
    _resumes_to_exactly_once(project, database_url, db)


def test_sigterm_mid_batch_rolls_back_that_batch_and_apply_resumes(project, database_url, db):
    _setup(project, db, size=500, min_size=500, max_size=500, sleep_ms=50)
    proc = _start(project, database_url)
    assert _wait_for_batches(db, proc, 2)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    assert _resumes_to_exactly_once(project, database_url, db) % 500 == 0  # whole batches only


def test_a_lost_connection_fails_cleanly_and_apply_resumes(project, database_url, db):
    _setup(project, db, size=500, min_size=500, max_size=500, sleep_ms=50)
    proc = _start(project, database_url)
    assert _wait_for_batches(db, proc, 2)
    db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               "WHERE application_name = 'sqlmig' AND datname = current_database()")  # fmt: skip
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "statement failed" in err
    _resumes_to_exactly_once(project, database_url, db)
