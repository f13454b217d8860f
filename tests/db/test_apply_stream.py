"""Streamed migrations (sqlmig.stream): consecutive plain transactional migrations are sent ahead of their
results in one pipeline. Nothing queued behind a failure runs, events and history stay exact, Ctrl-C stops
the queued migrations, and the migrations that cannot be streamed run in their place in the order."""

from __future__ import annotations

import itertools
import json
import signal

import psycopg
import pytest

from sqlmig.stream import WINDOW, StreamFailed, stream
from tests.db.running import spawn_apply, sqlmig_sessions, wait_for_sleep


def _apply(cli, project, url, *extra):
    return cli("apply", "--database-url", url, "--project", str(project.root), *extra)


def _rel(db, name):
    return db.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0]


def _run_stream(conn, queries):
    started, finished = [], []
    try:
        stream(conn, iter(q.encode() for q in queries), started.append, lambda i, res: finished.append(i))
    except StreamFailed as exc:
        return started, finished, exc
    return started, finished, None


def test_the_server_skips_every_query_queued_behind_an_error_later_transactions_included(database_url, db):
    queries = ["BEGIN", "CREATE TABLE s1 (a int)", "COMMIT",
               "BEGIN", "CREATE TABLE s2 (a int)", "SELECT 1 / 0", "COMMIT",
               "BEGIN", "CREATE TABLE s3 (a int)", "COMMIT"]  # fmt: skip
    assert len(queries) <= WINDOW  # all of them are on the wire before the error comes back
    with psycopg.connect(database_url, autocommit=True) as conn:
        started, finished, failed = _run_stream(conn, queries)
        assert failed is not None and failed.index == 5 and failed.error.sqlstate == "22012"
        assert finished == [0, 1, 2, 3, 4] and started == [0, 1, 2, 3, 4, 5]
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR  # left for the caller
        conn.execute("ROLLBACK")
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection is usable again
    assert _rel(db, "s1") == "s1"
    assert _rel(db, "s2") is None and _rel(db, "s3") is None


def test_a_stream_longer_than_the_window_runs_every_query_in_order(database_url, db):
    db.execute("CREATE TABLE seq (n int)")
    queries = [f"INSERT INTO seq VALUES ({n})" for n in range(WINDOW * 5 + 3)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        started, finished, failed = _run_stream(conn, queries)
    assert failed is None
    assert started == finished == list(range(len(queries)))
    assert [r[0] for r in db.execute("SELECT n FROM seq ORDER BY ctid")] == list(range(len(queries)))


def test_a_failure_mid_stream_stops_the_migrations_queued_after_it(project, database_url, db, cli):
    for n in range(1, 11):
        sql = f"CREATE TABLE t{n} (id int);\n" + ("SELECT 1 / 0;\n" if n == 3 else f"CREATE INDEX ON t{n} (id);\n")
        project.add(f"{n:05d}_t{n}", sql)
    res = _apply(cli, project, database_url)
    assert res.returncode == 1
    assert "migrations/00003_t3.sql:2: statement failed: SELECT 1 / 0\n" in res.stderr
    assert "22012: division by zero" in res.stderr and "Traceback" not in res.stderr
    assert [_rel(db, f"t{n}") for n in (1, 2)] == ["t1", "t2"]
    assert all(_rel(db, f"t{n}") is None for n in range(3, 11))
    rows = dict(db.execute("SELECT version, status FROM sqlmig_history").fetchall())
    assert rows == {"00001": "applied", "00002": "applied", "00003": "failed"}


def test_events_of_streamed_migrations_come_in_order(project, database_url, cli):
    for n in range(1, 4):
        project.add(f"{n:05d}_t{n}", f"CREATE TABLE t{n} (id int);\nCREATE INDEX ON t{n} (id);\n")
    res = _apply(cli, project, database_url, "--format", "json")
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    got = [(e["event"], e.get("version"), e.get("index")) for e in events
           if e["event"].startswith(("migration_", "statement_"))]  # fmt: skip
    want = []
    for n in range(1, 4):
        v = f"{n:05d}"
        want += [("migration_started", v, None), ("statement_started", v, 0), ("statement_done", v, 0),
                 ("statement_started", v, 1), ("statement_done", v, 1), ("migration_done", v, None)]  # fmt: skip
    assert got == want


def test_the_recorded_duration_is_the_servers_time_for_the_whole_migration(project, database_url, db, cli):
    # The history row is sent before the statements ran: the server measures from BEGIN to the row.
    project.add("00001_slow", "CREATE TABLE slow (id int);\nSELECT pg_sleep(0.3);\n")
    project.add("00002_fast", "CREATE TABLE fast (id int);\n")
    res = _apply(cli, project, database_url, "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = {v: (ms, a, b) for v, ms, a, b in db.execute(
        "SELECT version, duration_ms, started_at, finished_at FROM sqlmig_history")}  # fmt: skip
    ms, started, finished = rows["00001"]
    assert ms >= 300 and started < finished
    assert (finished - started).total_seconds() * 1000 == pytest.approx(ms, abs=2)
    assert rows["00002"][0] < 300 and rows["00002"][1] >= rows["00001"][2]  # it began after 00001 committed
    done = {json.loads(line)["version"]: json.loads(line)["duration_ms"] for line in res.stdout.splitlines()
            if json.loads(line)["event"] == "migration_done"}  # fmt: skip
    assert done["00001"] == ms  # what apply reports is what history keeps


def test_migrations_that_are_not_streamed_run_in_their_place(project, database_url, db, cli):
    project.add("00001_a", "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);")
    project.add("00002_check", "INSERT INTO a VALUES (2);",
                manifest={"verify": ["SELECT count(*) = 2 FROM a"]})  # fmt: skip
    project.add("00003_b", "INSERT INTO a VALUES (3);")
    project.add("00004_idx", "CREATE INDEX CONCURRENTLY a_idx ON a (id);", manifest={"transaction": "none"})
    project.add("00005_c", "INSERT INTO a VALUES (5);\nDEALLOCATE ALL;")
    project.add("00006_d", "INSERT INTO a VALUES (6);")
    res = _apply(cli, project, database_url)
    assert res.returncode == 0, res.stderr
    assert [r[0] for r in db.execute("SELECT id FROM a ORDER BY ctid")] == [1, 2, 3, 5, 6]
    assert _rel(db, "a_idx") == "a_idx"
    applied = db.execute("SELECT version FROM sqlmig_history WHERE status = 'applied' ORDER BY finished_at")
    assert [r[0] for r in applied] == ["00001", "00002", "00003", "00004", "00005", "00006"]


def test_ctrl_c_stops_the_migrations_queued_behind_the_running_one(project, database_url, db):
    project.add("00001_first", "CREATE TABLE first (a int);")
    project.add("00002_long", "CREATE TABLE partial (a int);\nSELECT pg_sleep(600);")
    project.add("00003_after", "CREATE TABLE after_it (a int);")  # queued in the same stream, behind the sleep
    proc = spawn_apply(project, database_url)
    wait_for_sleep(db, proc)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert _rel(db, "first") == "first"
    assert _rel(db, "partial") is None and _rel(db, "after_it") is None
    assert dict(db.execute("SELECT version, status FROM sqlmig_history").fetchall()) == {"00001": "applied"}
    assert sqlmig_sessions(db) == 0


def test_a_terminated_connection_mid_stream_is_a_clear_failure(project, database_url, db):
    project.add("00001_first", "CREATE TABLE first (a int);")
    project.add("00002_long", "CREATE TABLE partial (a int);\nSELECT pg_sleep(600);")
    project.add("00003_after", "CREATE TABLE after_it (a int);")
    proc = spawn_apply(project, database_url)
    for pid in wait_for_sleep(db, proc):
        db.execute("SELECT pg_terminate_backend(%s)", (pid,))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "migrations/00002_long.sql:2: statement failed: SELECT pg_sleep(600)" in err
    assert "57P01" in err and "Traceback" not in err
    assert _rel(db, "partial") is None and _rel(db, "after_it") is None
    assert dict(db.execute("SELECT version, status FROM sqlmig_history").fetchall()) == {"00001": "applied"}


def test_a_history_row_that_cannot_be_written_is_named_as_such(project, database_url, db, cli):
    project.add("00001_guard", "ALTER TABLE sqlmig_history ADD CONSTRAINT no_more CHECK (false) NOT VALID;")
    res = _apply(cli, project, database_url)
    assert res.returncode == 1
    assert "sqlmig could not write the migration's row in sqlmig_history" in res.stderr
    assert "23514" in res.stderr and "Traceback" not in res.stderr
    assert db.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'no_more'").fetchone()[0] == 0


def _commit_modes(project, database_url, db, cli):
    """Apply a run whose migrations record the synchronous_commit they ran under; return them in order."""
    project.add("00001_modes", "CREATE TABLE modes (version text, mode text);\n"
                "INSERT INTO modes VALUES ('00001', current_setting('synchronous_commit'));")  # fmt: skip
    project.add("00002_a", "INSERT INTO modes VALUES ('00002', current_setting('synchronous_commit'));")
    project.add("00003_verified", "INSERT INTO modes VALUES ('00003', current_setting('synchronous_commit'));",
                manifest={"verify": ["SELECT count(*) = 3 FROM modes"]})  # fmt: skip
    project.add("00004_b", "INSERT INTO modes VALUES ('00004', current_setting('synchronous_commit'));")
    project.add("00005_c", "INSERT INTO modes VALUES ('00005', current_setting('synchronous_commit'));")
    res = _apply(cli, project, database_url)
    assert res.returncode == 0, res.stderr
    return [tuple(r) for r in db.execute("SELECT version, mode FROM modes ORDER BY version")]


def test_only_the_last_commit_of_a_stream_waits_for_the_flush(project, database_url, db, cli):
    # 00003 has verify queries, so it runs on its own: 00002 ends the first stream, 00005 the second.
    dbname = db.execute("SELECT current_database()").fetchone()[0]
    db.execute(f'ALTER DATABASE "{dbname}" SET synchronous_commit = local')  # the last commit keeps it
    assert _commit_modes(project, database_url, db, cli) == [
        ("00001", "off"),
        ("00002", "local"),
        ("00003", "local"),
        ("00004", "off"),
        ("00005", "local"),
    ]


def test_sync_commit_each_makes_every_commit_wait_for_the_flush(project, database_url, db, cli):
    (project.root / "sqlmig.toml").write_text('sync_commit = "each"\n')
    assert _commit_modes(project, database_url, db, cli) == [(f"0000{n}", "on") for n in range(1, 6)]


def test_sync_commit_accepts_only_run_or_each(project, database_url, cli):
    project.add("00001_a", "CREATE TABLE a (id int);")
    (project.root / "sqlmig.toml").write_text('sync_commit = "sometimes"\n')
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 2 and "sync_commit must be one of run, each, got 'sometimes'" in res.stderr


def test_history_times_of_a_fast_stream_never_overlap(project, database_url, db, cli):
    # Commits that do not wait for the disk follow each other within a millisecond: a started_at
    # derived from a rounded duration fell before the previous migration's finished_at.
    for n in range(1, 61):
        project.add(f"{n:05d}_t{n}", f"CREATE TABLE t{n} (id int);")
    res = _apply(cli, project, database_url)
    assert res.returncode == 0, res.stderr
    rows = db.execute("SELECT version, started_at, finished_at FROM sqlmig_history ORDER BY version").fetchall()
    assert len(rows) == 60
    for (_, _, finished), (version, started, _) in itertools.pairwise(rows):
        assert started >= finished, version
    assert all(started <= finished for _, started, finished in rows)


def test_a_streamed_history_row_holds_what_a_row_written_one_query_at_a_time_holds(project, database_url, db, cli):
    # A stream binds its rows to a prepared statement; the other migrations compose them as literals.
    forward = "CREATE TABLE IF NOT EXISTS größe (a int);\nSELECT 'it''s \\ $1 ünïcode';\n"
    rollback = "-- zurück: 'quoted' \\ $$ and \"names\"\nDROP TABLE IF EXISTS größe;\n"
    project.add("00001_streamed", forward, down=rollback, manifest={"phase": "migrate"})
    project.add("00002_verified", forward, down=rollback, manifest={"phase": "migrate", "verify": ["SELECT true"]})
    res = _apply(cli, project, database_url)
    assert res.returncode == 0, res.stderr
    columns = ("phase, status, transaction_mode, checksum, rollback_checksum, statements_done, done_checksum, "
               "rollback_sql, error, point_of_no_return, sqlmig_version, applied_by")  # fmt: skip
    rows = db.execute(f"SELECT {columns} FROM sqlmig_history ORDER BY version").fetchall()
    assert rows[0] == rows[1]
    assert rows[0][:3] == ("migrate", "applied", "per-migration") and rows[0][5] == 2
    assert rows[0][7] == rollback
