"""QA of streamed apply (sqlmig.stream), cases that failed end to end before their fixes: a Ctrl-C while an event is
reported, the lock-timeout retries of each migration, the blockers read behind an ACCESS EXCLUSIVE holder, and the
migrations a stream would get wrong (a change of client_encoding, a bare $1), which run one query at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import psycopg
import pytest

import sqlmig
from sqlmig.events import MigrationDone
from tests.conftest import REPO


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLMIG_DATABASE_URL")}


def test_a_ctrl_c_while_an_event_is_reported_stops_cleanly(project, database_url, db):
    for n in range(1, 41):
        project.add(f"{n:05d}_m{n}", f"CREATE TABLE t{n} (id int);\nINSERT INTO t{n} VALUES ({n});\n")
    done: list[str] = []
    interrupted: list[bool] = []

    def sink(event) -> None:
        if isinstance(event, MigrationDone):
            done.append(event.version)
            if event.version == "00002" and not interrupted:
                interrupted.append(True)
                raise KeyboardInterrupt  # Ctrl-C while the event is printed

    with pytest.raises(KeyboardInterrupt):
        sqlmig.apply(project.settings(database_url), sink=sink)
    assert len(done) == len(set(done)), done  # no migration reported done twice
    applied = {r[0] for r in db.execute("SELECT version FROM sqlmig_history WHERE status = 'applied'")}
    assert set(done) <= applied
    for n in range(1, 41):  # all or nothing, each
        has_table = db.execute("SELECT to_regclass(%s)", (f"t{n}",)).fetchone()[0] is not None
        assert has_table == (f"{n:05d}" in applied), n


def test_each_streamed_migration_gets_its_own_lock_timeout_retries(project, database_url, db):
    db.execute("CREATE TABLE x1 (id int); CREATE TABLE x2 (id int)")
    (project.root / "sqlmig.toml").write_text("retry_backoff = 0.5\n")
    retry_once = {"lock_timeout": "100ms", "retries": 1}
    project.add("00001_a", "CREATE TABLE a (id int);")
    project.add("00002_x1", "ALTER TABLE x1 ADD COLUMN y int;", manifest=retry_once)
    project.add("00003_b", "CREATE TABLE b (id int);")
    project.add("00004_x2", "ALTER TABLE x2 ADD COLUMN y int;", manifest=retry_once)
    holders = {}
    for table in ("x1", "x2"):
        holders[table] = psycopg.connect(database_url)
        holders[table].execute(f"LOCK TABLE {table} IN ACCESS SHARE MODE")
    proc = subprocess.Popen([sys.executable, "-m", "sqlmig", "apply", "--database-url", database_url,
                             "--project", str(project.root)], cwd=REPO, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    timer = threading.Timer(60, proc.kill)
    timer.start()
    lines = []
    try:
        for line in proc.stderr:  # each holder lets go during the backoff that follows its lock timeout
            lines.append(line)
            for table, version in (("x1", "00002"), ("x2", "00004")):
                if f"lock timeout at migrations/{version}_{table}.sql" in line and not holders[table].closed:
                    holders[table].close()
        proc.wait()
    finally:
        timer.cancel()
        for holder in holders.values():
            holder.close()
    err = "".join(lines)
    assert proc.returncode == 0, err
    assert err.count("retry 1/1") == 2, err
    assert err.count("applying 00002_x1") == 1 and err.count("applying 00004_x2") == 1  # a retry is no new start
    assert db.execute("SELECT count(*) FROM sqlmig_history WHERE status = 'applied'").fetchone()[0] == 4


def _apply_behind(database_url, project, lock: str, waiting: str) -> tuple[int, str]:
    """Apply while another session holds `lock` (a LOCK TABLE statement); fail the test if apply is still
    waiting after 20 s (`waiting` says what it should have given up on). Returns (exit code, stderr)."""
    with psycopg.connect(database_url) as holder:
        holder.execute(lock)
        proc = subprocess.Popen([sys.executable, "-m", "sqlmig", "apply", "--database-url", database_url,
                                 "--project", str(project.root)], cwd=REPO, env=_env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        try:
            _out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"apply still waiting 20 s {waiting}")
        finally:
            holder.rollback()
    return proc.returncode, err


def test_a_lock_timeout_behind_an_access_exclusive_holder_gives_up(project, database_url, db):
    db.execute("CREATE TABLE busy (id int)")
    (project.root / "sqlmig.toml").write_text("retry_backoff = 0.05\n")
    project.add("00001_busy", "ALTER TABLE busy ADD COLUMN y int;", manifest={"lock_timeout": "50ms", "retries": 1})
    # e.g. another team's ALTER, a VACUUM FULL
    code, err = _apply_behind(database_url, project, "LOCK TABLE busy IN ACCESS EXCLUSIVE MODE",
                              "after a 50 ms lock_timeout with 1 retry")  # fmt: skip
    assert code == 1, err
    assert "55P03" in err and "gave up after 1 retry" in err
    assert "holds ACCESS EXCLUSIVE" in err  # the blocker is named, though its lock keeps the table's size unread


def test_plan_behind_an_access_exclusive_holder_names_it_instead_of_waiting(project, database_url, db, cli):
    db.execute("CREATE TABLE busy (id int)")
    project.add("00001_busy", "ALTER TABLE busy ADD COLUMN y int;")
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        try:
            res = cli("plan", "--database-url", database_url, "--project", str(project.root))
        finally:
            holder.rollback()
    assert res.returncode == 0, res.stderr
    assert "size unknown: another session's lock keeps it from being read" in res.stdout
    assert "holds ACCESS EXCLUSIVE" in res.stdout


def test_a_change_of_client_encoding_is_not_streamed_and_text_arrives_intact(project, database_url, db, cli):
    project.add("00001_t", "CREATE TABLE t (s text);")
    project.add("00002_latin1", "SET client_encoding = 'LATIN1';\nINSERT INTO t VALUES ('café');")
    project.add("00003_after", "INSERT INTO t VALUES ('naïve');")  # after RESET ALL: the connection's encoding again
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr
    assert [r[0] for r in db.execute("SELECT s FROM t ORDER BY ctid")] == ["café", "naïve"]


def test_a_bare_positional_parameter_gets_the_servers_own_error(project, database_url, cli):
    project.add("00001_p", "CREATE TABLE p (id int);\nSELECT $1;")
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 1
    assert "42P02: there is no parameter $1" in res.stderr and "migrations/00001_p.sql:2" in res.stderr


def test_a_stream_waits_for_its_history_table_only_as_long_as_lock_timeout(project, database_url, db, cli):
    # The history row's prepared statement is parsed inside the first migration's transaction, under its
    # lock_timeout: a session holding the history table must not make apply wait without end.
    project.add("00001_first", "CREATE TABLE first (a int);")
    assert cli("apply", "--database-url", database_url, "--project", str(project.root)).returncode == 0
    (project.root / "sqlmig.toml").write_text("retry_backoff = 0.05\n")
    project.add("00002_second", "CREATE TABLE second (a int);", manifest={"lock_timeout": "100ms", "retries": 1})
    # e.g. someone's long report on it
    code, err = _apply_behind(database_url, project, "LOCK TABLE sqlmig_history IN SHARE MODE",
                              "behind the history table's holder with a 100 ms lock_timeout")  # fmt: skip
    assert code == 1, err
    assert "55P03" in err and "gave up after 1 retry" in err and "Traceback" not in err
    assert db.execute("SELECT to_regclass('second')").fetchone()[0] is None


@pytest.mark.parametrize("verify", [False, True])  # streamed, and one query at a time
def test_a_history_row_that_a_trigger_swallows_fails_the_migration(project, database_url, db, cli, verify):
    # Counted as applied without its row, the migration would show as pending and run again next time.
    project.add("00001_first", "CREATE TABLE first (a int);")
    assert cli("apply", "--database-url", database_url, "--project", str(project.root)).returncode == 0
    db.execute("CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$")
    db.execute("CREATE TRIGGER swallow BEFORE INSERT ON sqlmig_history FOR EACH ROW EXECUTE FUNCTION swallow()")
    manifest = {"verify": ["SELECT true"]} if verify else None
    project.add("00002_second", "CREATE TABLE second (a int);", manifest=manifest)
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 1, res.stderr
    assert "sqlmig could not write the migration's row in sqlmig_history" in res.stderr
    assert "history row not written: a rule or trigger on the table dropped it" in res.stderr
    assert "Traceback" not in res.stderr
    assert db.execute("SELECT to_regclass('second')").fetchone()[0] is None  # rolled back with it


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE second (a int);\nDO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$;",  # drops it, unseen
        "CREATE TABLE second (a int);\nALTER TABLE sqlmig_history ALTER COLUMN duration_ms TYPE numeric;",
    ],
)
def test_a_migration_that_pulls_the_prepared_history_row_away_runs_one_query_at_a_time(project, database_url, db,
                                                                                        cli, sql):  # fmt: skip
    project.add("00001_first", "CREATE TABLE first (a int);")
    project.add("00002_second", sql)
    project.add("00003_third", "CREATE TABLE third (a int);")
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr
    assert "00002_second changed the statement sqlmig prepared for its history rows" in res.stderr
    assert res.stderr.count("applying 00002_second") == 1  # announced once, though it ran twice
    rows = dict(db.execute("SELECT version, status FROM sqlmig_history").fetchall())
    assert rows == {"00001": "applied", "00002": "applied", "00003": "applied"}
    assert db.execute("SELECT to_regclass('second'), to_regclass('third')").fetchone() == ("second", "third")
