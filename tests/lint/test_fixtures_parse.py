"""The parse-clean guard, on PostgreSQL's own parser: every fixture statement is valid SQL.

sqlglot rejects some valid PostgreSQL (`CREATE INDEX … ON ONLY`, `SET TABLESPACE`…), so the
guard asks the server. Each statement runs in a transaction that is rolled back; PostgreSQL
reports a syntax error (SQLSTATE 42601) before it looks for any table, so a missing table
(42P01) or a statement refused in a transaction block (25001) still proves the text parses.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from sqlmig import postgres
from sqlmig.sql import split_statements
from tests.lint.test_fixtures import ALL_FIXTURES, directives

SYNTAX_ERROR = "42601"


@pytest.fixture(scope="module")
def conn(pg_server):
    """One scratch database for every fixture: nothing is ever committed to it."""
    name = pg_server.create_database("lintfx")
    try:
        with psycopg.connect(pg_server.url_for(name), autocommit=True) as c:
            yield c
    finally:
        pg_server.drop_database(name)


@pytest.mark.parametrize("fixture", ALL_FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_parses_on_postgres(conn, fixture: Path) -> None:
    db = conn
    text = fixture.read_text()
    if "unparsable" in directives(text):
        return
    major = db.info.server_version // 10000
    if int(directives(text).get("pg", "0")) > major:
        pytest.skip(f"needs PostgreSQL {directives(text)['pg']}")
    db.execute("BEGIN")
    try:
        for stmt in split_statements(text, str(fixture)):
            if postgres.is_transaction_control(stmt):
                continue  # BEGIN/COMMIT would end the guard's own transaction
            db.execute("SAVEPOINT s")
            try:
                db.execute(stmt.text)
            except psycopg.Error as exc:
                assert exc.sqlstate != SYNTAX_ERROR, f"{fixture}:{stmt.line}: {exc}"
            db.execute("ROLLBACK TO SAVEPOINT s")
    finally:
        db.execute("ROLLBACK")
