"""Statement splitting without a server: boundaries, verbatim text, lines, and what is refused where.
(tests/db/test_apply_splitting.py checks the same against what PostgreSQL receives and executes.)"""

from __future__ import annotations

import pytest

from sqlmig.errors import ProjectError
from sqlmig.sql import split_statements


def texts(sql: str) -> list[str]:
    return [s.text for s in split_statements(sql, "f.sql")]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 'a;b''c'; SELECT 2", ["SELECT 'a;b''c'", "SELECT 2"]),
        ('CREATE TABLE "we;ird""t" (x int); SELECT 2', ['CREATE TABLE "we;ird""t" (x int)', "SELECT 2"]),
        ("SELECT E'it\\'s; ok'; SELECT 2", ["SELECT E'it\\'s; ok'", "SELECT 2"]),
        ("SELECT e'\\\\'; SELECT 'x;'", ["SELECT e'\\\\'", "SELECT 'x;'"]),
        ("SELECT 'C:\\'; SELECT 2", ["SELECT 'C:\\'", "SELECT 2"]),  # standard_conforming_strings = on
        ("SELECT $$a;b$$; SELECT $t$ $$;$$ $t$", ["SELECT $$a;b$$", "SELECT $t$ $$;$$ $t$"]),
        ("SELECT $A$ ; $a$ ; $A$; SELECT 2", ["SELECT $A$ ; $a$ ; $A$", "SELECT 2"]),  # tags are case-sensitive
        ("SELECT 1 AS x$$y; SELECT 2", ["SELECT 1 AS x$$y", "SELECT 2"]),  # $ inside an identifier
        ("SELECT 1 -- a;b\n; SELECT 2", ["SELECT 1", "SELECT 2"]),
        ("SELECT 1--no space;\n; SELECT 2", ["SELECT 1", "SELECT 2"]),
        ("SELECT /* a /* b; */ c; */ 1; SELECT 2", ["SELECT /* a /* b; */ c; */ 1", "SELECT 2"]),
        ("SELECT U&'!0041;' UESCAPE '!'; SELECT 2", ["SELECT U&'!0041;' UESCAPE '!'", "SELECT 2"]),
        ("SELECT a[1:2], f(x := 1); SELECT 2", ["SELECT a[1:2], f(x := 1)", "SELECT 2"]),
        ("CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a; SELECT CASE WHEN a > 0 THEN 1 "
         "END; END; SELECT 2",
         ["CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a; SELECT CASE WHEN a > 0 THEN 1 "
          "END; END", "SELECT 2"]),
        ("create procedure p() language sql begin atomic insert into t values (1); end",
         ["create procedure p() language sql begin atomic insert into t values (1); end"]),
        ("SELECT 1;;;\n;SELECT 2", ["SELECT 1", "SELECT 2"]),
        ("SELECT 1;\r\nSELECT\r\n'a;b';\r\n", ["SELECT 1", "SELECT\r\n'a;b'"]),
        ("SELECT 'héllo;wörld'; SELECT 'ü'", ["SELECT 'héllo;wörld'", "SELECT 'ü'"]),
        # inside parentheses a semicolon does not end the statement (psql's rule): a rule's actions
        ("CREATE RULE r AS ON INSERT TO a DO ALSO (INSERT INTO b VALUES (1); NOTIFY b); SELECT 2",
         ["CREATE RULE r AS ON INSERT TO a DO ALSO (INSERT INTO b VALUES (1); NOTIFY b)", "SELECT 2"]),
        ("SELECT (1)); SELECT 2", ["SELECT (1))", "SELECT 2"]),  # a stray ")" does not count below zero
    ],
)  # fmt: skip
def test_boundaries(sql, expected):
    assert texts(sql) == expected


def test_statements_keep_the_authors_text_and_line():
    sql = "-- header; comment\n\nCREATE TABLE t (\n    a int -- the key; really\n);\n/* c */ INSERT INTO t\nVALUES (1)"
    stmts = split_statements(sql, "migrations/00001_x.sql")
    assert [(s.line, s.column, s.index) for s in stmts] == [(3, 1, 0), (6, 9, 1)]
    assert stmts[0].text == "CREATE TABLE t (\n    a int -- the key; really\n)"
    assert stmts[1].where == "migrations/00001_x.sql:6"
    assert stmts[1].first_line == "INSERT INTO t"
    for s in stmts:
        assert s.text in sql  # a slice of the file, byte for byte
    assert stmts[0].comments_before == ("header; comment",)


@pytest.mark.parametrize("sql", ["", "   \n\n", "-- just a comment", "/* a */ -- b\n;\n;"])
def test_empty_and_comment_only_text_has_no_statements(sql):
    assert split_statements(sql, "f.sql") == []


@pytest.mark.parametrize(
    ("sql", "where", "message"),
    [
        ("SELECT 1;\n\\set x 1\nSELECT 2;", "f.sql:2", "psql meta-command \\set"),
        ("SELECT 1\n\\gexec\n", "f.sql:2", "psql meta-command \\gexec"),
        ("COPY t FROM stdin;\n1\tx\n\\.\n", "f.sql:1", "COPY … FROM stdin"),
        ("SELECT 1;\nCOPY t (a) FROM STDIN WITH (FORMAT csv);\n1,it's\n\\.\n", "f.sql:2", "COPY … FROM stdin"),
        ("COPY (SELECT 1) TO STDOUT", "f.sql:1", "TO stdout"),
        ("SELECT :'v'", "f.sql:1", "psql variable :'v'"),
        ('SELECT :"v"', "f.sql:1", 'psql variable :"v"'),
        ("SELECT\n  :v", "f.sql:2", "psql variable :v"),
        ("SELECT 1;\nSELECT 'abc;\nSELECT 2;", "f.sql:2:8", "unterminated string ('…')"),
        ("SELECT 1;\n\n  SELECT $fn$abc;", "f.sql:3:10", "unterminated dollar quote"),
        ("SELECT 1;\n/* a /* nested */ b", "f.sql:2:1", "unterminated block comment"),
        ('SELECT "abc;', "f.sql:1:8", "unterminated quoted identifier"),
        ("SELECT 1;\nSELECT E'abc\\';", "f.sql:2:8", "unterminated escape string"),
    ],
)
def test_refused_with_file_and_line(sql, where, message):
    with pytest.raises(ProjectError) as info:
        split_statements(sql, "f.sql")
    assert info.value.where == where
    assert message in info.value.message
    assert info.value.hint


def test_files_are_read_byte_for_byte(tmp_path):
    """sql.read_bytes (one os.read loop) gives what Path.read_bytes gives: CRLF, a BOM, more than one read."""
    from sqlmig.sql import read_bytes

    path = tmp_path / "m.sql"
    for raw in (b"", b"\xef\xbb\xbfSELECT 1;\r\nSELECT 2;\r\n", b"SELECT '" + b"x\r\n" * 50_000 + b"';\n"):
        path.write_bytes(raw)
        assert read_bytes(path) == path.read_bytes() == raw
