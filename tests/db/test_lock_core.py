"""The migration lock (one runner at a time) and lock_timeout retries against a conflicting session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psycopg

from sqlmig.history import lock_key
from tests.conftest import REPO


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLMIG_DATABASE_URL")}


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sqlmig", *args], cwd=REPO, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def test_concurrent_applies_apply_each_migration_exactly_once(project, database_url, db):
    db.execute("CREATE TABLE runs (version text NOT NULL, pid int NOT NULL DEFAULT pg_backend_pid())")
    for i in range(1, 7):
        # not idempotent: a second run of any migration would fail on CREATE TABLE or double the rows
        project.add(f"{i:05d}_m{i}", f"CREATE TABLE m{i} (a int);\nINSERT INTO runs (version) VALUES ('{i:05d}');\n"
                    "SELECT pg_sleep(0.05);")  # fmt: skip
    procs = [_spawn("apply", "--database-url", database_url, "--project", str(project.root)) for _ in range(4)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert [rc for rc, _, _ in results] == [0, 0, 0, 0], [err for _, _, err in results]
    assert db.execute("SELECT version, count(*) FROM runs GROUP BY version ORDER BY version").fetchall() == [
        (f"{i:05d}", 1) for i in range(1, 7)]  # fmt: skip
    assert db.execute("SELECT count(*), count(DISTINCT version) FROM sqlmig_history WHERE status = 'applied'"
                      ).fetchone() == (6, 6)  # fmt: skip
    outputs = [out for _, out, _ in results]
    assert sum("applied 6 migrations" in o for o in outputs) + sum("nothing to apply" in o for o in outputs) >= 3
    applied_counts = sum(int(o.split()[1]) for o in outputs if o.startswith("applied "))
    assert applied_counts == 6  # whoever ran, together they applied each migration once


def test_lock_wait_runs_out_with_exit_4_naming_the_holder(project, database_url, db, cli):
    project.add("00001_t", "CREATE TABLE t (a int);")
    with psycopg.connect(database_url, autocommit=True, application_name="deploy-bot-7") as holder:
        assert holder.execute("SELECT pg_try_advisory_lock(%s)", (lock_key("public", "sqlmig_history"),)).fetchone()[0]
        t0 = time.monotonic()
        res = cli("apply", "--lock-wait", "1", "--database-url", database_url, "--project", str(project.root))
        waited = time.monotonic() - t0
        assert res.returncode == 4, res.stderr
        assert "another migration run holds the lock (waited 1s)" in res.stderr
        assert "application_name 'deploy-bot-7'" in res.stderr
        assert "client local socket" in res.stderr and "since 20" in res.stderr
        assert "Traceback" not in res.stderr
        assert waited >= 1  # it did wait (an upper bound would be a timing assertion)
        # rollback and repair take the same lock; plan and status do not need it
        for args in (["rollback", "--yes"], ["repair"]):
            res = cli(*args, "--lock-wait", "0", "--database-url", database_url, "--project", str(project.root))
            assert res.returncode == 4, (args, res.stderr)
        res = cli("plan", "--database-url", database_url, "--project", str(project.root))
        assert res.returncode == 0
    assert db.execute("SELECT to_regclass('t')").fetchone()[0] is None
    res = cli("apply", "--lock-wait", "1", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr


def _wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_lock_timeout_retries_with_backoff_until_the_conflicting_lock_is_released(project, database_url, db):
    db.execute("CREATE TABLE busy (a int)")
    (project.root / "sqlmig.toml").write_text("retry_backoff = 0.2\n")
    project.add("00001_busy", "ALTER TABLE busy ADD COLUMN b int;\nCREATE TABLE other (a int);",
                manifest={"lock_timeout": "100ms", "retries": 8})  # fmt: skip
    blocker = psycopg.connect(database_url)
    blocker.execute("LOCK TABLE busy IN ACCESS SHARE MODE")  # ADD COLUMN needs ACCESS EXCLUSIVE
    proc = _spawn("apply", "--database-url", database_url, "--project", str(project.root))
    try:
        # sqlmig's own advisory lock is not what it waits for: it is retrying the ALTER
        _wait_for(lambda: db.execute("SELECT count(*) FROM sqlmig_history").fetchone()[0] == 0
                  if db.execute("SELECT to_regclass('sqlmig_history')").fetchone()[0] else False)  # fmt: skip
        time.sleep(0.6)  # at least one lock timeout and retry
    finally:
        blocker.rollback()
        blocker.close()
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert ("lock timeout at migrations/00001_busy.sql:1 (ALTER TABLE busy ADD COLUMN b int): canceling statement "
            "due to lock timeout; retry 1/8 in 0.2s") in err  # fmt: skip
    assert db.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'busy'").fetchone()[0] == 2
    assert db.execute("SELECT status FROM sqlmig_history").fetchone()[0] == "applied"


def test_lock_timeout_gives_up_cleanly_after_the_retries(project, database_url, db, cli):
    db.execute("CREATE TABLE busy (a int)")
    (project.root / "sqlmig.toml").write_text("retry_backoff = 0.05\n")
    project.add("00001_busy", "CREATE TABLE other (a int);\nALTER TABLE busy ADD COLUMN b int;",
                manifest={"lock_timeout": "50ms", "retries": 2})  # fmt: skip
    with psycopg.connect(database_url, application_name="report-job") as blocker:
        blocker.execute("LOCK TABLE busy IN ACCESS SHARE MODE")
        pid = blocker.info.backend_pid
        res = cli("apply", "--database-url", database_url, "--project", str(project.root))
        blocker.rollback()
    assert res.returncode == 1
    # each retry says which statement waited and for whom: the session holding the conflicting lock
    retries = [line for line in res.stderr.splitlines() if "retry " in line]
    assert len(retries) == 2 and all("at migrations/00001_busy.sql:2 (ALTER TABLE busy ADD COLUMN b int)" in r
                                     for r in retries), res.stderr  # fmt: skip
    blocked = f"blocked by pid {pid} (report-job, user "
    assert res.stderr.count(blocked) == 3, res.stderr  # after each retry, and in the final error
    assert "idle in transaction" in res.stderr
    assert "holds ACCESS SHARE: LOCK TABLE busy IN ACCESS SHARE MODE" in res.stderr
    assert "migrations/00001_busy.sql:2: statement failed: ALTER TABLE busy ADD COLUMN b int" in res.stderr
    assert "55P03: canceling statement due to lock timeout" in res.stderr
    assert "gave up after 2 retries with backoff" in res.stderr
    assert "retry 2/2" in res.stderr
    assert db.execute("SELECT to_regclass('other')").fetchone()[0] is None  # the whole attempt rolled back
    status, error = db.execute("SELECT status, error FROM sqlmig_history").fetchone()
    assert status == "failed" and "55P03" in error


def test_a_transaction_none_retry_names_the_statement_and_blocker_in_json(project, database_url, db, cli):
    db.execute("CREATE TABLE busy (a int)")
    (project.root / "sqlmig.toml").write_text("retry_backoff = 0.05\n")
    project.add("00002_alter", "\nALTER TABLE busy ADD COLUMN b int;\n",
                manifest={"lock_timeout": "50ms", "retries": 1, "transaction": "none"})  # fmt: skip
    with psycopg.connect(database_url, application_name="report-job") as blocker:
        blocker.execute("LOCK TABLE busy IN ACCESS SHARE MODE")
        res = cli("apply", "--format", "json", "--database-url", database_url, "--project", str(project.root))
        blocker.rollback()
    assert res.returncode == 1
    events = [json.loads(line) for line in res.stdout.splitlines()]
    (retry,) = [e for e in events if e.get("event") == "retrying"]
    assert retry["where"] == "migrations/00002_alter.sql:2"
    assert retry["statement"] == "ALTER TABLE busy ADD COLUMN b int"
    assert len(retry["blockers"]) == 1 and "(report-job, user " in retry["blockers"][0]
