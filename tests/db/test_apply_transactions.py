"""All-or-nothing: a failed migration leaves no trace but its failed history row; `transaction: none`
runs resume at the statement that failed; session state never leaks from one migration to the next."""

from __future__ import annotations

import json
import os

import psycopg


def _apply(cli, project, url, *extra):
    return cli("apply", "--database-url", url, "--project", str(project.root), *extra)


def _rel(db, name):
    return db.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0]


def _history(db):
    rows = db.execute("SELECT version, status, statements_done, error FROM sqlmig_history ORDER BY version")
    return {v: (s, n, e) for v, s, n, e in rows.fetchall()}


def test_failed_migration_leaves_nothing_but_its_failed_history_row(project, database_url, db, cli):
    project.add("00001_base", "CREATE TABLE base (id int PRIMARY KEY);")
    project.add(
        "00002_half",
        "CREATE TABLE half (id int);\n"
        "INSERT INTO base VALUES (1);\n"
        "CREATE INDEX half_idx ON half (id);\n"
        "INSERT INTO base\n"
        "VALUES (1);\n",  # duplicate key: fails on the server, with a DETAIL
    )
    res = _apply(cli, project, database_url)
    assert res.returncode == 1
    assert _rel(db, "half") is None and _rel(db, "half_idx") is None
    assert db.execute("SELECT count(*) FROM base").fetchone()[0] == 0  # the first INSERT was rolled back too
    status, done, error = _history(db)["00002"]
    assert status == "failed" and done == 0
    assert "migrations/00002_half.sql:4" in error and "23505" in error and "INSERT INTO base" in error
    assert _history(db)["00001"][0] == "applied"
    # what a person reads: file:line, the statement, SQLSTATE, message, DETAIL, and no traceback
    assert "error: migrations/00002_half.sql:4: statement failed: INSERT INTO base" in res.stderr
    assert "23505: duplicate key value violates unique constraint" in res.stderr
    assert "DETAIL: Key (id)=(1) already exists." in res.stderr
    assert "rolled back" in res.stderr
    assert "Traceback" not in res.stderr

    # fixed, it applies; the failed row becomes the applied row
    project.add("00002_half", "CREATE TABLE half (id int);\nINSERT INTO base VALUES (1);\n")
    res = _apply(cli, project, database_url)
    assert res.returncode == 0, res.stderr
    assert _history(db)["00002"] == ("applied", 2, None)


def test_apply_stops_at_the_first_failure_leaving_earlier_migrations_applied(project, database_url, db, cli):
    project.add("00001_one", "CREATE TABLE one (id int);")
    project.add("00002_two", "CREATE TABLE two (id int);")
    project.add("00003_three", "CREATE TABLE three (id int);\nSELECT 1 / 0;")
    project.add("00004_four", "CREATE TABLE four (id int);")
    project.add("00005_five", "CREATE TABLE five (id int);")
    res = _apply(cli, project, database_url)
    assert res.returncode == 1
    assert "22012: division by zero" in res.stderr and "migrations/00003_three.sql:2" in res.stderr
    assert [_rel(db, t) is not None for t in ("one", "two", "three", "four", "five")] == [True, True, False, False,
                                                                                         False]  # fmt: skip
    hist = _history(db)
    assert {v: s for v, (s, _, _) in hist.items()} == {"00001": "applied", "00002": "applied", "00003": "failed"}
    res = cli("status", "--format", "json", "--database-url", database_url, "--project", str(project.root))
    assert [r["status"] for r in json.loads(res.stdout)] == ["applied", "applied", "failed", "pending", "pending"]


def test_error_position_names_the_line_and_server_hint(project, database_url, cli):
    project.add("00001_typo", "CREATE TABLE ok (a int);\n\nSELECT a,\n       lower(42)\nFROM ok;\n")
    res = _apply(cli, project, database_url)
    assert res.returncode == 1
    assert "migrations/00001_typo.sql:4: statement failed: SELECT a," in res.stderr  # the line of `lower(42)`
    assert "42883: function lower(integer) does not exist" in res.stderr
    assert "HINT: No function matches the given name and argument types." in res.stderr


def test_error_inside_a_do_block_names_the_file_line_of_the_raise(project, database_url, cli):
    project.add(
        "00001_raise",
        "CREATE TABLE t (a int);\n"
        "DO $$\n"
        "BEGIN\n"
        "    PERFORM 1;\n"
        "    RAISE EXCEPTION 'custom failure' USING DETAIL = 'the detail', HINT = 'the hint';\n"
        "END $$;\n",
    )
    res = _apply(cli, project, database_url)
    assert res.returncode == 1
    assert "migrations/00001_raise.sql:5: statement failed: DO $$" in res.stderr
    assert "P0001: custom failure" in res.stderr
    assert "DETAIL: the detail" in res.stderr and "HINT: the hint" in res.stderr
    assert "CONTEXT: PL/pgSQL function inline_code_block line 4 at RAISE" in res.stderr


def test_concurrently_in_a_transactional_migration_is_refused_before_anything_runs(project, database_url, db, cli):
    project.add("00001_table", "CREATE TABLE t (a int);")
    project.add("00002_index", "-- build it\nCREATE INDEX CONCURRENTLY t_a_idx ON t (a);")
    res = _apply(cli, project, database_url)
    assert res.returncode == 2
    assert "migrations/00002_index.sql:2: CREATE INDEX CONCURRENTLY cannot run inside a transaction block" in (
        res.stderr)  # fmt: skip
    assert "transaction: none" in res.stderr  # the fix
    assert _rel(db, "t") is None
    project.add("00002_index", "CREATE INDEX CONCURRENTLY t_a_idx ON t (a);", manifest={"transaction": "none"})
    res = _apply(cli, project, database_url)
    assert res.returncode == 0, res.stderr
    assert _rel(db, "t_a_idx") is not None


def test_transaction_none_failure_resumes_at_the_failed_statement(project, database_url, db, cli):
    none = {"transaction": "none"}
    project.add(
        "00001_steps",
        "CREATE TABLE steps (n int);\n"
        "INSERT INTO steps VALUES (1);\n"
        "INSERT INTO missing_table VALUES (2);\n"
        "INSERT INTO steps VALUES (3);\n",
        manifest=none,
    )
    res = _apply(cli, project, database_url)
    assert res.returncode == 1
    assert "migrations/00001_steps.sql:3" in res.stderr
    assert "statements 1-2 of 4 were applied and stay applied" in res.stderr
    assert [r[0] for r in db.execute("SELECT n FROM steps")] == [1]  # autocommit: the first two stay
    status, done, error = _history(db)["00001"]
    assert (status, done) == ("failed", 2)
    assert "INSERT INTO missing_table" in error and "42P01" in error
    res = cli("status", "--database-url", database_url, "--project", str(project.root))
    assert "failed after 2 statement(s)" in res.stdout and "missing_table" in res.stdout

    # the plan shows where it resumes; the rerun does not repeat CREATE TABLE / the first INSERT
    project.add(
        "00001_steps",
        "CREATE TABLE steps (n int);\n"
        "INSERT INTO steps VALUES (1);\n"
        "INSERT INTO steps VALUES (2);\n"
        "INSERT INTO steps VALUES (3);\n",
        manifest=none,
    )
    res = cli("plan", "--database-url", database_url, "--project", str(project.root))
    assert "INSERT INTO steps VALUES (1)  (done)" in res.stdout
    res = _apply(cli, project, database_url)
    assert res.returncode == 0, res.stderr
    assert "resuming at statement 3" in res.stderr
    assert [r[0] for r in db.execute("SELECT n FROM steps ORDER BY n")] == [1, 2, 3]
    assert _history(db)["00001"] == ("applied", 4, None)


def test_resume_refused_when_completed_statements_were_edited(project, database_url, db, cli):
    none = {"transaction": "none"}
    project.add("00002_steps", "CREATE TABLE steps (n int);\nINSERT INTO nowhere VALUES (1);\n", manifest=none)
    assert _apply(cli, project, database_url).returncode == 1
    # the statement that already ran is edited, and an older migration is now pending too
    project.add("00002_steps", "CREATE TABLE steps (n bigint);\nINSERT INTO steps VALUES (1);\n", manifest=none)
    project.add("00001_older", "CREATE TABLE older (a int);")
    for command in ("plan", "apply"):
        res = cli(command, "--database-url", database_url, "--project", str(project.root))
        assert res.returncode == 3, res.stderr
        assert "migrations/00002_steps.sql: the 1 statement(s) that already ran were edited since" in res.stderr
        assert "sqlmig repair" in res.stderr
    assert _rel(db, "older") is None  # refused before anything ran

    # a manifest switched to per-migration after a partial run is refused as well
    project.add("00002_steps", "CREATE TABLE steps (n int);\nINSERT INTO steps VALUES (1);\n")
    res = _apply(cli, project, database_url)
    assert res.returncode == 3 and "manifest now says per-migration" in res.stderr

    # after review, repair clears the failed run and apply starts the migration afresh
    db.execute("DROP TABLE steps")
    res = cli("repair", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0 and "00002_steps: cleared the failed run (1 statement(s) had run)" in res.stdout
    assert _apply(cli, project, database_url).returncode == 0
    assert db.execute("SELECT count(*) FROM steps").fetchone()[0] == 1


def test_session_settings_of_one_migration_do_not_leak_into_the_next(project, database_url, db, cli):
    db.execute("CREATE SCHEMA other")
    db.execute(f"CREATE ROLE app_owner_{db.info.dbname[-6:]}")
    role = f"app_owner_{db.info.dbname[-6:]}"
    try:
        db.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        project.add("00001_elsewhere", "SET search_path = other;\nCREATE TABLE t1 (a int);")
        project.add("00002_as_app", f"SET ROLE {role};\nCREATE TABLE owned (a int);")
        project.add("00003_plain", "CREATE TABLE t2 (a int);\nCREATE TABLE t3 (a int);",
                    manifest={"transaction": "none"})  # fmt: skip
        project.add("00004_timeout", "SET lock_timeout = '17s';", manifest={"transaction": "none"})
        project.add("00005_check", "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lt, "
                    "current_user AS who, current_setting('search_path') AS sp;")  # fmt: skip
        res = _apply(cli, project, database_url)
        assert res.returncode == 0, res.stderr
        assert _rel(db, "other.t1") is not None and _rel(db, "public.t2") is not None
        owners = dict(db.execute("SELECT relname, pg_get_userbyid(relowner) FROM pg_class "
                                 "WHERE relname IN ('owned', 't2', 't3')").fetchall())  # fmt: skip
        assert owners == {"owned": role, "t2": "postgres", "t3": "postgres"}
        lt, who, sp = db.execute("SELECT lt, who, sp FROM seen").fetchone()
        assert (lt, who) == ("5s", "postgres") and "other" not in sp
        # the history rows were written by sqlmig's own user, not the role a migration switched to
        assert {r[0] for r in db.execute("SELECT applied_by FROM sqlmig_history")} == {"postgres"}
    finally:
        db.execute(f"DROP OWNED BY {role}")
        db.execute(f"DROP ROLE {role}")


def test_history_row_records_who_what_and_the_rollback_sql(project, database_url, db, cli):
    project.add("00001_t", "CREATE TABLE t (a int);", down="DROP TABLE t;", manifest={"phase": "expand"})
    assert _apply(cli, project, database_url).returncode == 0
    row = db.execute(
        "SELECT name, phase, status, transaction_mode, checksum, rollback_checksum, manifest_checksum, "
        "started_at <= finished_at, duration_ms >= 0, applied_by, sqlmig_version, rollback_sql, error "
        "FROM sqlmig_history WHERE version = '00001'"
    ).fetchone()
    import hashlib

    from sqlmig import __version__

    def sha(path: str) -> str:
        return hashlib.sha256((project.root / path).read_bytes()).hexdigest()

    assert row == ("t", "expand", "applied", "per-migration", sha("migrations/00001_t.sql"),
                   sha("rollback/00001_t.sql"), sha("manifests/00001_t.yaml"), True, True, "postgres", __version__,
                   "DROP TABLE t;", None)  # fmt: skip


def test_a_deferred_constraint_failing_at_commit_rolls_everything_back(project, database_url, db, cli):
    project.add("00001_deferred", "CREATE TABLE parent (id int PRIMARY KEY);\n"
                "CREATE TABLE child (pid int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);\n"
                "INSERT INTO child VALUES (1);\n")  # fmt: skip
    res = _apply(cli, project, database_url)
    assert res.returncode == 1
    assert "error: migrations/00001_deferred.sql: migration failed at COMMIT" in res.stderr
    assert '23503: insert or update on table "child" violates foreign key constraint' in res.stderr
    assert db.execute("SELECT to_regclass('parent'), to_regclass('child')").fetchone() == (None, None)
    status, _, error = _history(db)["00001"]
    assert status == "failed" and "23503" in error


def test_a_verify_query_error_names_the_manifest(project, database_url, db, cli):
    project.add("00001_v", "CREATE TABLE v (a int);", manifest={"verify": "SELECT count(*) = 0 FROM nowhere"})
    res = _apply(cli, project, database_url)
    assert res.returncode == 1
    assert "error: manifests/00001_v.yaml: a verify query failed" in res.stderr and "42P01" in res.stderr
    assert db.execute("SELECT to_regclass('v')").fetchone()[0] is None


def test_pg_dumps_set_config_search_path_ends_with_its_migration(project, database_url, db, cli):
    # pg_dump starts its files with this line; it is a session setting as much as SET search_path is
    project.add("00001_dump", "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.d (a int);")
    project.add("00002_next", "CREATE TABLE unqualified (a int);")  # needs the default search_path back
    res = _apply(cli, project, database_url)
    assert res.returncode == 0, res.stderr
    assert _rel(db, "public.unqualified") is not None


def test_prepare_transaction_is_refused_before_anything_runs(project, database_url, db, cli):
    # it would end sqlmig's transaction and leave the migration's changes prepared, holding their locks
    project.add("00001_two_phase", "CREATE TABLE tp (a int);\nPREPARE TRANSACTION 'deploy';")
    res = _apply(cli, project, database_url)
    assert res.returncode == 2, res.stderr
    assert "migrations/00001_two_phase.sql:2" in res.stderr
    assert "transaction control in a migration file: PREPARE TRANSACTION 'deploy'" in res.stderr
    assert _rel(db, "tp") is None and _rel(db, "sqlmig_history") is None


def test_a_latin1_database_gets_the_utf8_files_converted_by_the_server(project, pg_server, cli):
    name = f"latin1_{os.getpid()}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    try:
        url = pg_server.url_for(name)
        project.add("00001_t", "CREATE TABLE t (s text);\nINSERT INTO t VALUES ('café');")
        project.add("00002_euro", "INSERT INTO t VALUES ('5 €');")  # no € in LATIN1
        res = _apply(cli, project, url)
        assert res.returncode == 1 and "Traceback" not in res.stderr
        assert "migrations/00002_euro.sql:1" in res.stderr and "22P05" in res.stderr
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT s FROM t").fetchall() == [("café",)]
    finally:
        pg_server.drop_database(name)


def test_set_local_role_does_not_write_the_history_row_as_that_role(project, database_url, db, cli):
    role = f"app_local_{db.info.dbname[-6:]}"
    db.execute(f"CREATE ROLE {role}")
    try:
        db.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        project.add("00001_as_app", f"SET LOCAL ROLE {role};\nCREATE TABLE owned_locally (a int);")
        res = _apply(cli, project, database_url)
        assert res.returncode == 0, res.stderr  # the role may not write sqlmig_history: sqlmig resets it first
        owner = db.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'owned_locally'")
        assert owner.fetchone()[0] == role
    finally:
        db.execute("DROP TABLE IF EXISTS owned_locally")
        db.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}")
        db.execute(f"DROP ROLE {role}")
