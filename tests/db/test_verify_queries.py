"""Manifest `verify` queries: apply runs them after the statements and fails the migration unless each returns true."""

from __future__ import annotations

import json


def _apply(cli, project, database_url, *extra):
    return cli("apply", "--yes", "--database-url", database_url, "--project", str(project.root), *extra)


def test_failing_query_rolls_back_a_transactional_migration(project, database_url, db, cli):
    project.add("0001_items", "CREATE TABLE items (id int);\nINSERT INTO items VALUES (1), (NULL);",
                "DROP TABLE items;", manifest={"verify": ["SELECT true", "SELECT count(*) = 0 FROM items "
                                                          "WHERE id IS NULL"]})  # fmt: skip
    res = _apply(cli, project, database_url)
    assert res.returncode == 1
    assert ("manifests/0001_items.yaml: verify query did not return true (returned False): "
            "SELECT count(*) = 0 FROM items WHERE id IS NULL") in res.stderr  # fmt: skip
    assert "nothing was changed" in res.stderr
    assert db.execute("SELECT to_regclass('items')").fetchone()[0] is None  # rolled back with the migration
    status, error = db.execute("SELECT status, error FROM sqlmig_history WHERE version = '0001'").fetchone()
    assert status == "failed" and "returned False" in error


def test_query_returning_null_or_no_row_fails_too(project, database_url, cli):
    project.add("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;", manifest={"verify": "SELECT max(id) > 0 FROM a"})
    res = _apply(cli, project, database_url, "--format", "json")
    assert res.returncode == 1
    error = [json.loads(line) for line in res.stdout.splitlines() if '"error"' in line][-1]
    assert error["message"] == "verify query did not return true (returned None): SELECT max(id) > 0 FROM a"


def test_passing_queries_let_the_migration_commit(project, database_url, db, cli):
    project.add("0001_a", "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);", "DROP TABLE a;",
                manifest={"verify": ["SELECT count(*) = 1 FROM a", "SELECT bool_and(id > 0) FROM a"]})  # fmt: skip
    assert _apply(cli, project, database_url).returncode == 0
    assert db.execute("SELECT status FROM sqlmig_history").fetchone()[0] == "applied"


def test_without_a_transaction_the_statements_stay_and_a_rerun_only_reverifies(project, database_url, db, cli):
    project.add("0001_a", "CREATE TABLE a (id int);\nINSERT INTO a VALUES (NULL);", "DROP TABLE a;",
                manifest={"transaction": "none", "verify": "SELECT count(*) = 0 FROM a WHERE id IS NULL"})  # fmt: skip
    res = _apply(cli, project, database_url)
    assert res.returncode == 1
    assert "returned False" in res.stderr and "statements stay applied" in res.stderr
    assert db.execute("SELECT count(*) FROM a").fetchone()[0] == 1
    db.execute("UPDATE a SET id = 1")
    res = _apply(cli, project, database_url)
    assert res.returncode == 0, res.stderr
    assert db.execute("SELECT count(*) FROM a").fetchone()[0] == 1  # the INSERT did not run twice
