"""`plan` reads the live database: each statement's lock, the table's size and rows, and who would block it."""

from __future__ import annotations

import json

import psycopg
import pytest

from sqlmig.errors import UsageError
from sqlmig.liveplan import parse_size


def _project(project, database_url, cli, db):
    project.add("0001_items", "CREATE TABLE items (id bigint PRIMARY KEY, sku text);", "DROP TABLE items;")
    assert cli("apply", "--database-url", database_url, "--project", str(project.root)).returncode == 0
    db.execute("INSERT INTO items SELECT g, 'sku' || g FROM generate_series(1, 5000) g")
    db.execute("ANALYZE items")
    project.add("0002_unit", "ALTER TABLE items ADD COLUMN unit text;\nCREATE TABLE fresh (id int);",
                "DROP TABLE fresh; ALTER TABLE items DROP COLUMN unit;")  # fmt: skip


def test_plan_shows_size_rows_and_a_session_holding_a_lock(project, database_url, cli, db):
    _project(project, database_url, cli, db)
    with psycopg.connect(database_url, application_name="report-job") as holder:
        holder.execute("SELECT count(*) FROM items")  # holds ACCESS SHARE until the transaction ends
        text = cli("plan", "--database-url", database_url, "--project", str(project.root))
        data = json.loads(cli("plan", "--database-url", database_url, "--project", str(project.root),
                              "--format", "json").stdout)  # fmt: skip
        pid = holder.info.backend_pid
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[1] == "warnings from the live database:"
    assert lines[2].startswith(f"  ! migrations/0002_unit.sql:1 would queue behind pid {pid} (report-job, user ")
    assert "holds ACCESS SHARE: SELECT count(*) FROM items" in lines[2]
    assert any("locks ACCESS EXCLUSIVE on items (blocks reads and writes);" in line and "~5,000 rows" in line
               for line in lines)  # fmt: skip
    live = data["steps"][0]["statements"][0]["live"][0]
    assert (live["table"], live["lock"], live["rows_estimate"]) == ("items", "ACCESS EXCLUSIVE", 5000)
    assert live["size_bytes"] > 0 and [b["pid"] for b in live["blockers"]] == [pid]
    assert data["steps"][0]["statements"][1]["live"] == []  # CREATE TABLE of a new table locks nothing that exists
    # the holder is gone: no blocker any more
    data = json.loads(cli("plan", "--database-url", database_url, "--project", str(project.root),
                          "--format", "json").stdout)  # fmt: skip
    assert data["steps"][0]["statements"][0]["live"][0]["blockers"] == []
    assert data["live_warnings"] == []


def test_a_lock_on_a_large_table_is_a_warning_and_dry_run_shows_it_too(project, database_url, cli, db):
    _project(project, database_url, cli, db)
    (project.root / "sqlmig.toml").write_text('large_table_size = "16kB"\n')
    res = cli("apply", "--dry-run", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr
    assert "! migrations/0002_unit.sql:1 takes ACCESS EXCLUSIVE on items (" in res.stdout
    assert "over large_table_size 16kB): it blocks reads and writes for as long as it runs" in res.stdout
    unit = "SELECT 1 FROM information_schema.columns WHERE column_name = 'unit' AND table_name = 'items'"
    assert db.execute(unit).fetchall() == []  # a dry run changes nothing


def test_parse_size():
    assert parse_size("100MB") == 100 * 1024**2
    assert parse_size("1.5GB") == int(1.5 * 1024**3)
    assert parse_size("512") == 512
    with pytest.raises(UsageError):
        parse_size("big")


def test_statements_on_one_table_each_see_the_blockers_that_conflict_with_their_own_lock(project, database_url, cli,
                                                                                       db):  # fmt: skip
    """The table is read once per plan; which sessions block still depends on each statement's lock."""
    _project(project, database_url, cli, db)
    project.add("0003_index", "CREATE INDEX items_sku ON items (sku);\nALTER TABLE items ADD COLUMN note text;",
                "ALTER TABLE items DROP COLUMN note; DROP INDEX items_sku;")  # fmt: skip
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE items IN ROW EXCLUSIVE MODE")  # what an open UPDATE holds
        data = json.loads(cli("plan", "--database-url", database_url, "--project", str(project.root),
                              "--format", "json").stdout)  # fmt: skip
        pid = holder.info.backend_pid
    index, alter = (s["live"][0] for s in data["steps"][1]["statements"])
    assert (index["lock"], [b["pid"] for b in index["blockers"]]) == ("SHARE", [pid])
    assert (alter["lock"], [b["pid"] for b in alter["blockers"]]) == ("ACCESS EXCLUSIVE", [pid])
    unit = data["steps"][0]["statements"][0]["live"][0]
    assert (unit["lock"], [b["pid"] for b in unit["blockers"]]) == ("ACCESS EXCLUSIVE", [pid])
    assert index["size_bytes"] == alter["size_bytes"] == unit["size_bytes"] > 0


def test_a_lock_that_does_not_conflict_is_not_a_blocker_for_a_later_statement_on_the_table(project, database_url,
                                                                                           cli, db):  # fmt: skip
    _project(project, database_url, cli, db)
    project.add("0003_index", "CREATE INDEX items_sku ON items (sku);", "DROP INDEX items_sku;")
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT count(*) FROM items")  # ACCESS SHARE: blocks the ALTER, not the CREATE INDEX
        data = json.loads(cli("plan", "--database-url", database_url, "--project", str(project.root),
                              "--format", "json").stdout)  # fmt: skip
        pid = holder.info.backend_pid
    assert [b["pid"] for b in data["steps"][0]["statements"][0]["live"][0]["blockers"]] == [pid]
    index = data["steps"][1]["statements"][0]["live"][0]
    assert (index["lock"], index["blockers"]) == ("SHARE", [])
