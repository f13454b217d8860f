"""`sqlmig apply` on a fresh checkout, with the child that reads the project ahead (sqlmig.cli.prefetch)
and without it (SQLMIG_PREFETCH=0): the same migrations applied, the same history, the same errors for
bad files with nothing run, and no process left behind. (The child starts only with two CPUs or more.)"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from sqlmig.cli import prefetch
from tests.conftest import ProjectBuilder

pytestmark = pytest.mark.skipif(prefetch._cpus() < 2, reason="no child on a single CPU: nothing to compare")


def _stderr(done, url) -> str:
    """stderr with the database's name (it differs between the two runs) masked."""
    name = re.search(r"dbname=(\S+)", url)[1]
    return done.stderr.replace(name, "DB")


@pytest.fixture
def fresh_cache(tmp_path):
    """A cache folder per run: every run below is a first run on its checkout."""
    count = iter(range(1000))
    return lambda: {"XDG_CACHE_HOME": str(tmp_path / f"cache-{next(count)}")}


def _apply(cli, project, url, env, *extra):
    return cli("apply", "--database-url", url, "--project", str(project.root), "--yes", *extra, env=env)


def _history(url):
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT version, name, status, checksum, rollback_checksum, manifest_checksum, "
                            "statements_done FROM sqlmig_history ORDER BY version").fetchall()  # fmt: skip


def _leftovers(marker: str) -> list[str]:
    """sqlmig processes of this project still running after the command (a child outliving its parent)."""
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if marker in line]


def _tables(project, count):
    for i in range(1, count + 1):
        project.add(f"{i:05d}_t{i}", f"-- t{i}\nCREATE TABLE t{i} (id bigint PRIMARY KEY, name text);\n"
                    f"CREATE INDEX t{i}_name ON t{i} (name);\n", f"DROP TABLE t{i};\n")  # fmt: skip


def test_a_first_apply_with_and_without_the_children_gives_the_same_history(project, pg_server, cli, fresh_cache):
    _tables(project, 40)
    urls = [pg_server.url_for(pg_server.create_database("pf")) for _ in range(2)]
    runs = []
    for url, extra in zip(urls, ({}, {"SQLMIG_PREFETCH": "0"}), strict=True):
        done = _apply(cli, project, url, {**fresh_cache(), **extra})
        assert done.returncode == 0, done.stderr
        runs.append((done.stderr.count("  applied 0"), done.stdout.split(" in ")[0], _history(url)))
    assert runs[0] == runs[1]
    assert runs[0][0] == 40 and [r[2] for r in runs[0][2]] == ["applied"] * 40
    assert _leftovers(str(project.root)) == []


def test_bad_files_are_reported_the_same_and_nothing_runs(project, pg_server, cli, fresh_cache):
    _tables(project, 6)
    project.add("00007_bad_sql", "CREATE TABLE x (note text DEFAULT 'never closed);\n")
    project.add("00008_meta", "CREATE TABLE y (id int);\n\\set ON_ERROR_STOP on\n")
    project.add("00009_in_tx", "CREATE INDEX CONCURRENTLY t1_id ON t1 (id);\n")
    outputs = []
    for extra in ({}, {"SQLMIG_PREFETCH": "0"}):
        url = pg_server.url_for(pg_server.create_database("pf"))
        done = _apply(cli, project, url, {**fresh_cache(), **extra})
        outputs.append((done.returncode, _stderr(done, url)))
        import psycopg

        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('t1'), to_regclass('sqlmig_history')").fetchone() == (None, None)
    assert outputs[0] == outputs[1]
    assert outputs[0][0] != 0 and "00007_bad_sql.sql:1" in outputs[0][1]
    assert _leftovers(str(project.root)) == []


def test_an_invalid_manifest_is_reported_the_same(project, pg_server, cli, fresh_cache):
    _tables(project, 3)
    project.add("00004_odd", "CREATE TABLE odd (id int);", manifest="description: odd\nphase: sideways\nextra: 1\n")
    outputs = []
    for extra in ({}, {"SQLMIG_PREFETCH": "0"}):
        url = pg_server.url_for(pg_server.create_database("pf"))
        done = _apply(cli, project, url, {**fresh_cache(), **extra})
        outputs.append((done.returncode, _stderr(done, url)))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == 2 and "manifests/00004_odd.yaml" in outputs[0][1] and "sideways" in outputs[0][1]


def test_few_pending_on_a_fresh_checkout(project: ProjectBuilder, database_url, cli, fresh_cache):
    """Most migrations applied before, a new checkout with one more: the child's split is not waited for,
    the parent splits its one file, and later commands find every file in the caches all the same."""
    _tables(project, 30)
    assert _apply(cli, project, database_url, fresh_cache()).returncode == 0
    project.add("00031_more", "CREATE TABLE more (id int);\n")
    env = fresh_cache()
    done = _apply(cli, project, database_url, env)
    assert done.returncode == 0, done.stderr
    assert "applied 00031_more" in done.stderr and "applied 00030" not in done.stderr
    status = cli("status", "--database-url", database_url, "--project", str(project.root), "--format", "json",
                 env=env)  # fmt: skip
    assert [row["status"] for row in json.loads(status.stdout)] == ["applied"] * 31
    assert _leftovers(str(project.root)) == []


def test_plan_on_a_fresh_checkout_changes_nothing(project, database_url, db, cli, fresh_cache):
    _tables(project, 12)
    done = cli("plan", "--database-url", database_url, "--project", str(project.root), "--format", "json",
               env=fresh_cache())  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["steps"]) == 12
    assert db.execute("SELECT to_regclass('sqlmig_history')").fetchone() == (None,)
    assert _leftovers(str(project.root)) == []
