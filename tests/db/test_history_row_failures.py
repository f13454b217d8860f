"""sqlmig's own history row cannot be written (a trigger or a check constraint on the history table):
every path that runs one query at a time says so and names the table, as the streamed path does
(test_apply_stream), while a deferred constraint of the migration itself is still named as the COMMIT."""

from __future__ import annotations

import pytest

HISTORY_FAILED = "sqlmig could not write the migration's row in sqlmig_history"
AT_COMMIT = "failed at COMMIT (deferred constraints and triggers run there)"
# the migration itself makes its own history row fail (23514), and it rolls back with it
GUARD = "CREATE TABLE kept (a int);\nALTER TABLE sqlmig_history ADD CONSTRAINT no_more CHECK (false) NOT VALID;"
# a deferred foreign key that fails at COMMIT (23503), after the history row was written
DEFERRED = ("CREATE TABLE parent (id int PRIMARY KEY);\n"
            "CREATE TABLE child (pid int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);\n"
            "INSERT INTO child VALUES (1);")  # fmt: skip
ONE_AT_A_TIME = {  # manifests (or a statement) that keep a migration out of the stream
    "verify": ({"verify": "SELECT true"}, ""),
    "point_of_no_return": ({"point_of_no_return": "a test that drops nothing"}, ""),
    "deallocate": ({}, "\nDEALLOCATE ALL;"),
}


def _run(cli, project, url, *args):
    return cli(*args, "--yes", "--database-url", url, "--project", str(project.root))


def _history(db) -> dict:
    return dict(db.execute("SELECT version, status FROM sqlmig_history").fetchall())


def _apply_failing(cli, project, url, kind: str, stem: str, sql: str) -> str:
    """Apply one migration that runs one query at a time (ONE_AT_A_TIME[kind]) and fails: its stderr."""
    manifest, extra = ONE_AT_A_TIME[kind]
    project.add(stem, sql + extra, manifest=manifest)
    res = _run(cli, project, url, "apply")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    return res.stderr


@pytest.mark.parametrize("kind", ONE_AT_A_TIME)
def test_a_history_row_that_cannot_be_written_is_named_as_such(project, database_url, db, cli, kind):
    err = _apply_failing(cli, project, database_url, kind, "00001_guard", GUARD)
    assert f"error: migrations/00001_guard.sql: {HISTORY_FAILED}" in err, err
    assert "23514" in err and "COMMIT" not in err
    assert db.execute("SELECT to_regclass('kept')").fetchone()[0] is None
    assert db.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'no_more'").fetchone()[0] == 0
    assert _history(db) == {"00001": "failed"}


@pytest.mark.parametrize("kind", ONE_AT_A_TIME)
def test_a_deferred_constraint_is_still_named_as_the_commit(project, database_url, db, cli, kind):
    err = _apply_failing(cli, project, database_url, kind, "00001_deferred", DEFERRED)
    assert f"error: migrations/00001_deferred.sql: migration {AT_COMMIT}" in err, err
    assert "23503" in err and HISTORY_FAILED not in err
    assert db.execute("SELECT to_regclass('parent'), to_regclass('child')").fetchone() == (None, None)
    assert _history(db) == {"00001": "failed"}


def _refuse_status(db, status: str) -> None:
    """A trigger on the history table that refuses to record `status`."""
    db.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
               "$$ BEGIN RAISE EXCEPTION 'refused: %', NEW.status USING ERRCODE = 'P0001'; END $$")  # fmt: skip
    db.execute(f"CREATE TRIGGER refuse BEFORE UPDATE ON sqlmig_history FOR EACH ROW "
               f"WHEN (NEW.status = '{status}') EXECUTE FUNCTION refuse()")  # fmt: skip


def test_a_batched_migration_whose_row_cannot_be_marked_applied_says_so(project, database_url, db, cli):
    db.execute("CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0)")
    db.execute("INSERT INTO items SELECT g FROM generate_series(1, 100) g")
    project.add("00001_first", "CREATE TABLE first (a int);")
    assert _run(cli, project, database_url, "apply").returncode == 0
    _refuse_status(db, "applied")
    project.add("00002_bump", "UPDATE items SET n = n + 1 WHERE id BETWEEN :batch_start AND :batch_end;",
                manifest={"phase": "migrate", "batch": {"table": "items", "size": 40}})  # fmt: skip
    res = _run(cli, project, database_url, "apply")
    assert res.returncode == 1, res.stderr
    assert f"error: migrations/00002_bump.sql: {HISTORY_FAILED}" in res.stderr, res.stderr
    assert "P0001" in res.stderr and "refused: applied" in res.stderr and "Traceback" not in res.stderr
    assert _history(db)["00002"] == "failed"  # every range committed; a rerun reruns only the last step
    db.execute("DROP TRIGGER refuse ON sqlmig_history")
    assert _run(cli, project, database_url, "apply").returncode == 0
    assert db.execute("SELECT count(*) FROM items WHERE n <> 1").fetchone()[0] == 0
    assert _history(db)["00002"] == "applied"


@pytest.mark.parametrize("transaction", ["per-migration", "none"])
def test_a_rollback_whose_row_cannot_be_written_says_so(project, database_url, db, cli, transaction):
    project.add("00001_t", "CREATE TABLE t (a int);", "DROP TABLE t;", manifest={"transaction": transaction})
    assert _run(cli, project, database_url, "apply").returncode == 0
    _refuse_status(db, "rolled_back")
    res = _run(cli, project, database_url, "rollback")
    assert res.returncode == 1, res.stderr
    assert f"error: rollback/00001_t.sql: {HISTORY_FAILED}" in res.stderr, res.stderr
    assert "refused: rolled_back" in res.stderr and "COMMIT" not in res.stderr and "Traceback" not in res.stderr
    assert _history(db) == {"00001": "applied"}
    gone = db.execute("SELECT to_regclass('t')").fetchone()[0] is None
    assert gone == (transaction == "none")  # in one transaction the DROP went back with the row


def test_a_rollback_whose_deferred_constraint_fails_names_the_commit(project, database_url, db, cli):
    project.add("00001_parent", "CREATE TABLE parent (id int PRIMARY KEY);\n"
                "CREATE TABLE child (pid int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);",
                "DROP TABLE child, parent;")  # fmt: skip
    project.add("00002_t2", "CREATE TABLE t2 (a int);", "INSERT INTO child VALUES (1);\nDROP TABLE t2;",
                manifest={"verify": "SELECT true"})  # fmt: skip
    assert _run(cli, project, database_url, "apply").returncode == 0
    res = _run(cli, project, database_url, "rollback")
    assert res.returncode == 1, res.stderr
    assert f"error: rollback/00002_t2.sql: migration {AT_COMMIT}" in res.stderr, res.stderr
    assert "23503" in res.stderr and HISTORY_FAILED not in res.stderr and "Traceback" not in res.stderr
    assert db.execute("SELECT to_regclass('t2')").fetchone()[0] == "t2"
    assert db.execute("SELECT count(*) FROM child").fetchone()[0] == 0
    assert _history(db) == {"00001": "applied", "00002": "applied"}
