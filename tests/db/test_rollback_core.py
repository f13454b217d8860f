"""Rollback: newest first, --steps / --to, never across a point of no return; confirmations."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

PONR = {"point_of_no_return": "drops t2.legacy and its data"}


def _run(cli, project, url, *args):
    return cli(*args, "--database-url", url, "--project", str(project.root))


def _statuses(cli, project, url):
    res = _run(cli, project, url, "status", "--format", "json")
    return {r["version"]: r["status"] for r in json.loads(res.stdout)}


@pytest.fixture
def four(project, database_url, cli):
    project.add("00001_t1", "CREATE TABLE t1 (a int);", down="DROP TABLE t1;")
    project.add("00002_t2", "CREATE TABLE t2 (a int, legacy int);\nALTER TABLE t2 DROP COLUMN legacy;",
                down=None, manifest=PONR)  # fmt: skip
    project.add("00003_t3", "CREATE TABLE t3 (a int);", down="DROP TABLE t3;")
    project.add("00004_t4", "CREATE TABLE t4 (a int);", down="DROP TABLE t4;")
    res = _run(cli, project, database_url, "apply", "--yes")
    assert res.returncode == 0, res.stderr
    return project


def test_rollback_steps_and_to_run_newest_first(four, database_url, db, cli):
    res = _run(cli, four, database_url, "rollback", "--yes")  # default: one step
    assert res.returncode == 0, res.stderr
    assert "rolled back 1 migration" in res.stdout
    assert _statuses(cli, four, database_url) == {"00001": "applied", "00002": "applied", "00003": "applied",
                                                  "00004": "rolled_back"}  # fmt: skip
    assert _run(cli, four, database_url, "apply").returncode == 0
    res = _run(cli, four, database_url, "rollback", "--steps", "2", "--yes")
    assert res.returncode == 0, res.stderr
    assert res.stderr.index("rolling back 00004_t4") < res.stderr.index("rolling back 00003_t3")
    assert db.execute("SELECT to_regclass('t3'), to_regclass('t4')").fetchone() == (None, None)
    assert _run(cli, four, database_url, "apply").returncode == 0
    res = _run(cli, four, database_url, "rollback", "--to", "00002", "--yes")
    assert res.returncode == 0 and "rolled back 2 migrations" in res.stdout
    res = _run(cli, four, database_url, "rollback", "--to", "2", "--steps", "1", "--yes")
    assert res.returncode == 2 and "give --steps or --to, not both" in res.stderr


@pytest.mark.parametrize("args", [["--steps", "3"], ["--to", "1"], ["--steps", "10"]])
def test_rollback_refuses_to_cross_a_point_of_no_return(four, database_url, db, cli, args):
    for command in (["rollback", "--yes"], ["plan", "--rollback"]):
        res = _run(cli, four, database_url, *command, *args)
        assert res.returncode == 2, res.stderr
        assert "cannot roll back past 00002_t2: it is a point of no return" in res.stderr
        assert "reason: drops t2.legacy and its data" in res.stderr
        assert "--to 00002" in res.stderr
    # nothing was rolled back, not even the migrations after it
    assert set(_statuses(cli, four, database_url).values()) == {"applied"}
    assert db.execute("SELECT to_regclass('t4')").fetchone()[0] is not None


def test_point_of_no_return_and_rollback_need_yes_when_not_on_a_terminal(project, database_url, db, cli):
    project.add("00001_t1", "CREATE TABLE t1 (a int);", down="DROP TABLE t1;")
    project.add("00002_drop", "ALTER TABLE t1 ADD COLUMN b int;", down=None, manifest=PONR)
    res = _run(cli, project, database_url, "apply")
    assert res.returncode == 2
    assert "the plan includes a point of no return; nothing was applied" in res.stderr
    assert "00002_drop: drops t2.legacy and its data" in res.stderr and "--yes" in res.stderr
    assert db.execute("SELECT to_regclass('t1')").fetchone()[0] is None  # not even the migration before it
    res = _run(cli, project, database_url, "apply", "--to", "1")
    assert res.returncode == 0, res.stderr
    res = _run(cli, project, database_url, "rollback")
    assert res.returncode == 2 and "rollback needs confirmation" in res.stderr
    assert db.execute("SELECT to_regclass('t1')").fetchone()[0] is not None


def _run_on_pty(args: list[str], answer: str, timeout: float = 60) -> tuple[int, str]:
    """Run `python -m sqlmig ARGS` with stdin/stdout/stderr on a pseudo-terminal; answer the first prompt."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLMIG_DATABASE_URL")}
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sqlmig", *args], stdin=child, stdout=child, stderr=child,
                            cwd=REPO, env=env, close_fds=True)  # fmt: skip
    os.close(child)
    seen, answered, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(main, answer.encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(main)
    return proc.returncode, seen.decode(errors="replace")


@pytest.mark.parametrize(("answer", "code"), [("y", 0), ("n", 2)])
def test_point_of_no_return_asks_on_a_terminal(project, database_url, db, answer, code):
    project.add("00001_t1", "CREATE TABLE t1 (a int);", down=None, manifest=PONR)
    rc, output = _run_on_pty(["apply", "--database-url", database_url, "--project", str(project.root)], answer)
    assert "00001_t1: drops t2.legacy and its data" in output
    assert "Apply these points of no return? [y/N]" in output
    assert rc == code, output
    assert (db.execute("SELECT to_regclass('t1')").fetchone()[0] is not None) == (answer == "y")


def test_failed_rollback_is_rolled_back_and_the_migration_stays_applied(project, database_url, db, cli):
    project.add("00001_t", "CREATE TABLE t (a int);\nCREATE TABLE u (a int);",
                down="DROP TABLE u;\nDROP TABLE nonexistent;\nDROP TABLE t;")  # fmt: skip
    assert _run(cli, project, database_url, "apply").returncode == 0
    res = _run(cli, project, database_url, "rollback", "--yes")
    assert res.returncode == 1
    assert "rollback/00001_t.sql:2: statement failed: DROP TABLE nonexistent" in res.stderr
    assert "42P01" in res.stderr
    assert db.execute("SELECT to_regclass('u'), to_regclass('t')").fetchone() == ("u", "t")
    status, error = db.execute("SELECT status, error FROM sqlmig_history").fetchone()
    assert status == "applied" and "DROP TABLE nonexistent" in error
