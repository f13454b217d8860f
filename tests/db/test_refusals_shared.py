"""What apply refuses before running is what `sqlmig check` reports: one list (project.refusals)."""

from __future__ import annotations

GOOSE = """-- +goose Up
CREATE TABLE users (id bigint PRIMARY KEY);

-- +goose Down
DROP TABLE users;
"""


def test_goose_down_section_is_refused_by_apply_and_check(project, database_url, cli, db):
    project.add("00001_users", GOOSE, "DROP TABLE users;")
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 2, res.stderr
    assert "migrations/00001_users.sql:4" in res.stderr
    assert "goose section marker `-- +goose Down`" in res.stderr
    assert "move the down section to rollback/00001_users.sql" in res.stderr
    # nothing ran: no table, not even sqlmig's history table
    assert db.execute("SELECT to_regclass('users'), to_regclass('sqlmig_history')").fetchone() == (None, None)

    res = cli("check", "--project", str(project.root))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "migrations/00001_users.sql:4" in res.stdout
    assert "goose section marker" in res.stdout


def test_dbmate_up_marker_in_a_rollback_is_refused(project, cli):
    project.add("00001_users", "CREATE TABLE users (id bigint PRIMARY KEY);",
                "-- migrate:up\nCREATE TABLE users (id int);\n-- migrate:down\nDROP TABLE users;\n")  # fmt: skip
    res = cli("check", "--project", str(project.root))
    assert res.returncode == 2
    assert "rollback/00001_users.sql:1" in res.stdout
    assert "dbmate section marker `-- migrate:up`" in res.stdout


def test_a_rollback_that_only_restores_captured_rows_passes_check_and_plan(project, database_url, cli):
    project.add(
        "00001_items",
        "CREATE TABLE items (id bigint PRIMARY KEY, price int);\n"
        "INSERT INTO items SELECT g, g FROM generate_series(1, 50) g;",
        "DROP TABLE items;",
    )
    project.add(
        "00002_zero_prices",
        "UPDATE items SET price = 0 WHERE id BETWEEN :batch_start AND :batch_end;",
        "-- sqlmig:restore-captured\n",
        {"phase": "migrate", "batch": {"table": "items", "key": "id", "size": 10, "capture": True}},
    )
    res = cli("check", "--project", str(project.root))
    assert "holds no SQL statements" not in res.stdout, res.stdout
    assert res.returncode == 0, res.stdout + res.stderr
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr
    res = cli("plan", "--rollback", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr
    assert "restores the rows captured" in res.stdout
