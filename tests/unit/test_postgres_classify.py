"""sqlmig.postgres after the split into a package: command statements read whole, transaction boundaries,
written tables, and sqlglot's fallback warnings kept off stderr."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sqlmig import postgres
from sqlmig.errors import ProjectError
from sqlmig.lint import lint_sql
from sqlmig.project import check_statements, load_project
from sqlmig.sql import split_statements


def one(sql: str):
    (stmt,) = split_statements(sql)
    return stmt


@pytest.mark.parametrize(
    ("sql", "leading"),
    [
        # sqlglot's tokenizer returns these as a command token plus one string holding the rest
        ("REINDEX TABLE CONCURRENTLY t", ("REINDEX", "TABLE", "CONCURRENTLY", "T")),
        ("VACUUM FULL t", ("VACUUM", "FULL", "T")),
        ("LOCK TABLE a IN SHARE MODE", ("LOCK", "TABLE", "A", "IN", "SHARE", "MODE")),
        ("RESET standard_conforming_strings", ("RESET", "STANDARD_CONFORMING_STRINGS")),
        ("REFRESH MATERIALIZED VIEW CONCURRENTLY v", ("REFRESH", "MATERIALIZED", "VIEW", "CONCURRENTLY", "V")),
        ("CALL p(1)", ("CALL", "P", "(", "1", ")")),
    ],
)
def test_command_statements_keep_their_leading_words(sql: str, leading: tuple[str, ...]) -> None:
    stmt = one(sql)
    assert stmt.keywords == leading
    assert stmt.text == sql  # what runs is still the author's text


def test_kind_of_a_command_statement_reads_past_its_first_word() -> None:
    assert one("REFRESH MATERIALIZED VIEW v").kind == "REFRESH MATERIALIZED VIEW"
    assert one("REINDEX INDEX CONCURRENTLY i").kind == "REINDEX"


def test_reset_standard_conforming_strings_is_refused_like_set(project) -> None:
    project.add("00001_reset", "CREATE TABLE t (a int);\nRESET standard_conforming_strings;\n")
    (m,) = load_project(project.settings()).migrations
    with pytest.raises(ProjectError, match="standard_conforming_strings") as info:
        check_statements(m)
    assert info.value.where == "migrations/00001_reset.sql:2"


@pytest.mark.parametrize(
    "statement",
    ["RESET ALL", "SELECT set_config('standard_conforming_strings', 'off', false)"],
)
def test_other_ways_to_turn_standard_conforming_strings_off_are_refused(project, statement: str) -> None:
    project.add("00001_off", f"CREATE TABLE t (a int);\n{statement};\nSELECT 'C:\\';\n")
    (m,) = load_project(project.settings()).migrations
    with pytest.raises(ProjectError, match="standard_conforming_strings") as info:
        check_statements(m)
    assert info.value.where == "migrations/00001_off.sql:2"


@pytest.mark.parametrize(
    ("sql", "boundary"),
    [
        ("BEGIN", "begin"),
        ("BEGIN ISOLATION LEVEL SERIALIZABLE", "begin"),
        ("START TRANSACTION", "begin"),
        ("COMMIT", "end"),
        ("END", "end"),
        ("ROLLBACK", "end"),
        ("ABORT", "end"),
        ("COMMIT AND NO CHAIN", "end"),
        ("COMMIT AND CHAIN", None),  # the next transaction starts at once
        ("ROLLBACK TO SAVEPOINT a", None),
        ("ROLLBACK TRANSACTION TO a", None),
        ("SAVEPOINT a", None),
        ("RELEASE SAVEPOINT a", None),
        ("COMMIT PREPARED 'x'", None),  # two-phase commit: not this session's block
        ("SELECT 1", None),
    ],
)
def test_transaction_boundary(sql: str, boundary: str | None) -> None:
    assert postgres.transaction_boundary(one(sql)) == boundary


@pytest.mark.parametrize(
    ("sql", "changes"),
    [
        ("SET search_path = app", True),
        ("SET SESSION statement_timeout = '5s'", True),
        ("SET ROLE app", True),
        ("RESET ALL", True),
        ("SET LOCAL lock_timeout = '1s'", False),
        ("SET CONSTRAINTS ALL DEFERRED", False),
        ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", False),
        ("SELECT 1", False),
    ],
)
def test_changes_session(sql: str, changes: bool) -> None:
    assert postgres.changes_session(one(sql)) is changes


@pytest.mark.parametrize(
    ("sql", "written", "targets"),
    [
        ("UPDATE app.users SET a = 1", ["app.users"], ["app.users"]),
        ("WITH x AS (SELECT 1) DELETE FROM users", ["users"], ["users"]),
        ("INSERT INTO logs SELECT * FROM users", ["logs"], ["logs"]),
        ("TRUNCATE a, b", ["a", "b"], ["a", "b"]),
        ("DROP TABLE a, b", [], ["a", "b"]),
        ("ALTER TABLE a ADD COLUMN c int", [], ["a"]),
        ("CREATE INDEX i ON a (c)", [], []),
        ("SELECT * FROM a", [], []),
    ],
)
def test_written_and_target_tables(sql: str, written: list[str], targets: list[str]) -> None:
    assert postgres.written_tables(one(sql)) == written
    assert postgres.target_tables(one(sql)) == targets


@pytest.mark.parametrize("release", ["ROLLBACK TO SAVEPOINT a", "COMMIT AND CHAIN"])
def test_lint_keeps_the_explicit_transaction_open_past_a_savepoint_rollback(release: str) -> None:
    sql = f"BEGIN;\nSAVEPOINT a;\n{release};\nCREATE INDEX CONCURRENTLY i ON t (c);\nCOMMIT;\n"
    found = [f for f in lint_sql(sql, "loose.sql") if f.rule == "SM100"]
    assert [f.line for f in found] == [4]


def test_lint_sees_the_transaction_end_at_commit() -> None:
    sql = "BEGIN;\nCREATE TABLE t (c int);\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t (c);\n"
    assert not [f for f in lint_sql(sql, "loose.sql") if f.rule == "SM100"]


def test_parsing_prints_no_sqlglot_fallback_warning() -> None:
    """sqlglot logs "contains unsupported syntax. Falling back to parsing as a 'Command'" for statements it
    cannot read; for sqlmig that is an ordinary None, and no command may print it."""
    code = (
        "from sqlmig.sql import parse_statement\n"
        "assert parse_statement('CREATE POLICY p ON t USING (true)') is None\n"
        "assert parse_statement('ALTER TABLE t ATTACH PARTITION p FOR VALUES IN (1)') is None\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""


def test_unquoted_non_ascii_names_fold_only_ascii() -> None:
    # QA: `CREATE TABLE café (naïve int)` was read as a table named None; PostgreSQL folds only ASCII letters
    from sqlmig import ddl

    a = ddl.describe(one("CREATE TABLE Café (Naïve int, ÉTAT text)"))
    assert (a.object, [c.name for c in a.columns]) == ("café", ["naïve", "État"])
    assert ddl.describe(one('ALTER TABLE "Café" ADD COLUMN prix int')).table == "Café"
    assert postgres.fold_name('Schéma."Café"') == "schéma.Café"
    assert postgres.fold_name("CAFÉ") == "cafÉ"
    assert postgres.created_table(one("CREATE TABLE ünïcode (id int)")) == "ünïcode"
    # a non-ASCII letter that upper-cases to ASCII is still no keyword (ſ is the long s)
    assert ddl.describe(one("SELECT 1 AS ſelect")).kind == "SELECT"


def test_created_columns() -> None:
    assert postgres.created_columns(one("ALTER TABLE users ADD COLUMN a int, ADD b text, DROP COLUMN c")) == [
        ("users", "a"),
        ("users", "b"),
    ]
    assert postgres.created_columns(one("CREATE TABLE t (a int)")) == []


def test_rules_are_read_with_their_table() -> None:
    from sqlmig import ddl

    a = ddl.describe(one("CREATE OR REPLACE RULE r AS ON INSERT TO public.t DO INSTEAD NOTHING"))
    assert (a.kind, a.object, a.table) == ("CREATE RULE", "r", "public.t")
