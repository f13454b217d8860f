"""The core commands as a user runs them: password masking, options after the subcommand, plan and
--dry-run changing nothing, JSON output, `sqlmig new`, a configurable history table, --help/--version."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import psycopg
import pytest

from sqlmig import __version__

SECRET = "s3cr3t-Pw"


def _run(cli, project, url, *args):
    return cli(*args, "--database-url", url, "--project", str(project.root))


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://deploy:{SECRET}@127.0.0.1:1/shop",
        f"postgresql://deploy@127.0.0.1:1/shop?password={SECRET}&sslmode=disable",
        f"host=127.0.0.1 port=1 user=deploy password={SECRET} dbname=shop",
        f"host=127.0.0.1 port=1 user=deploy password='{SECRET} x' dbname=shop",
        f"postgresql://deploy:{SECRET}@127.0.0.1:notaport/shop",
        f"postgresql://deploy:{SECRET}@127.0.0.1:1/shop?nosuchoption=1",
    ],
)
@pytest.mark.parametrize("source", ["flag", "env"])
def test_password_never_appears_in_connection_failures(project, cli, url, source):
    project.add("00001_t", "CREATE TABLE t (a int);")
    for command, fmt in (("apply", "json"), ("status", "text")):
        args = [command, "--project", str(project.root), "--format", fmt]
        if source == "flag":
            res = cli(*args, "--database-url", url)
        else:
            res = cli(*args, env={"DATABASE_URL": url})
        assert res.returncode in (1, 2), res.stderr
        assert SECRET not in res.stderr and SECRET not in res.stdout
        assert "Traceback" not in res.stderr
        assert "error: cannot connect to" in res.stderr or "error: invalid database URL" in res.stderr
        assert "***" in res.stderr


# Passwords with characters a URL reserves, written unencoded: libpq reads the userinfo up to the
# first '@' before any '/', so a '/' or a second '@' makes it take part of the password for a host,
# port or database name, which its error messages then echo. `?` and `#` it reads correctly.
MISPARSED = ["Secret/Part2", "p@ss:w/rd#1", "Se@cret99"]
READ_RIGHT = ["Secret#Part2", "Sec?ret", "Sec?ret#x:y"]


def _fragments(password: str) -> set[str]:
    """The password and every piece of it (3+ characters) between reserved characters."""
    return {password} | {p for p in re.split(r"[/@#?:]", password) if len(p) >= 3}


@pytest.mark.parametrize("password", MISPARSED + READ_RIGHT)
@pytest.mark.parametrize("source", ["flag", "env"])
def test_passwords_with_reserved_characters_never_leak(project, cli, password, source):
    project.add("00001_t", "CREATE TABLE t (a int);")
    url = f"postgresql://postgres:{password}@127.0.0.1:1/shop"
    for args in (["status"], ["apply", "--format", "json"], ["plan"], ["rollback", "--yes"]):
        args = [*args, "--project", str(project.root)]
        res = cli(*args, "--database-url", url) if source == "flag" else cli(*args, env={"DATABASE_URL": url})
        output = res.stderr + res.stdout
        assert not [f for f in _fragments(password) if f in output], output
        assert "Traceback" not in output and "su***" not in output
        if password in MISPARSED:  # refused before libpq sees it: nothing echoed, and how to fix it
            assert res.returncode == 2, output
            assert "postgresql://postgres:***@127.0.0.1:1/shop" in res.stderr
            assert "percent-encode" in res.stderr and "%2F" in res.stderr and "%40" in res.stderr
        else:
            assert res.returncode == 1, output
            assert "error: cannot connect to postgresql://postgres:***@127.0.0.1:1/shop" in res.stderr
            assert "Connection refused" in res.stderr


def test_a_scratch_url_libpq_would_misread_is_refused_too(project, cli):
    project.add("00001_t", "CREATE TABLE t (a int);")
    res = cli("verify", "--scratch-url", "postgresql://postgres:Secret/Part2@127.0.0.1:1/x", "-p", str(project.root))
    assert res.returncode == 2, res.stderr
    assert "cannot tell where the password ends" in res.stderr
    assert "Secret" not in res.stderr + res.stdout and "Part2" not in res.stderr + res.stdout


def test_a_password_with_question_mark_and_hash_connects_and_is_masked(project, database_url, cli):
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    url = f"postgresql://postgres:Sec?ret#x@/{info['dbname']}?host={info['host']}"
    project.add("00001_t", "CREATE TABLE t (a int);")
    res = cli("apply", "--database-url", url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr
    assert f"using postgresql://postgres:***@/{info['dbname']}?host={info['host']}" in res.stderr
    assert "Sec" not in res.stderr + res.stdout


def test_password_is_masked_when_the_connection_works(project, database_url, cli):
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    url = f"postgresql://postgres:{SECRET}@/{info['dbname']}?host={info['host']}"
    project.add("00001_t", "CREATE TABLE t (a int);\nSELECT 1 / 0;")
    for args in (["plan"], ["apply"], ["status"], ["apply", "--format", "json"]):
        res = cli(*args, "--database-url", url, "--project", str(project.root))
        assert SECRET not in res.stderr + res.stdout
    res = cli("status", "--database-url", url, "--project", str(project.root))
    assert f"using postgresql://postgres:***@/{info['dbname']}" in res.stderr


def test_plan_changes_nothing_and_shows_every_statement(project, database_url, db, cli):
    project.add("00001_t", "-- a comment\nCREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);")
    project.add("00002_idx", "CREATE INDEX CONCURRENTLY t_a2 ON t (a);", manifest={"transaction": "none"})
    project.add("00003_drop", "DROP TABLE t;", down=None, manifest={"point_of_no_return": "drops t", "phase":
                                                                   "contract"})  # fmt: skip
    before = db.execute("SELECT count(*) FROM pg_class").fetchone()[0]
    res = _run(cli, project, database_url, "plan")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[:4] == [
        "plan: apply 3 migrations",
        "  00001_t  [expand, per-migration]",
        "      migrations/00001_t.sql:2  CREATE TABLE t (a int)",
        "      migrations/00001_t.sql:3  CREATE INDEX t_a ON t (a)",
    ]
    assert "00003_drop is a point of no return: drops t" in res.stdout
    assert "00002_idx runs without a transaction" in res.stdout
    res = _run(cli, project, database_url, "plan", "--format", "json")
    data = json.loads(res.stdout)
    assert [(s["version"], s["transaction"], s["point_of_no_return"]) for s in data["steps"]] == [
        ("00001", "per-migration", None), ("00002", "none", None), ("00003", "per-migration", "drops t")]  # fmt: skip
    assert data["steps"][0]["statements"][1].items() >= {"path": "migrations/00001_t.sql", "line": 3,
                                                         "first_line": "CREATE INDEX t_a ON t (a)",
                                                         "kind": "CREATE INDEX"}.items()  # fmt: skip
    res = _run(cli, project, database_url, "plan", "--to", "1", "--phase", "expand")
    assert "plan: apply 1 migration" in res.stdout
    res = _run(cli, project, database_url, "apply", "--dry-run")
    assert res.returncode == 0 and "plan: apply 3 migrations" in res.stdout
    # nothing at all changed: no history table, no objects, no locks left
    assert db.execute("SELECT count(*) FROM pg_class").fetchone()[0] == before
    assert db.execute("SELECT to_regclass('sqlmig_history')").fetchone()[0] is None
    assert db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0] == 0


def test_status_json_lists_every_migration_with_the_documented_keys(project, database_url, cli):
    project.add("00001_a", "CREATE TABLE a (x int);")
    project.add("00002_b", "CREATE TABLE b (x int);", manifest={"phase": "migrate"})
    assert _run(cli, project, database_url, "apply", "--to", "1").returncode == 0
    res = _run(cli, project, database_url, "status", "--format", "json")
    rows = json.loads(res.stdout)
    assert {"version", "name", "phase", "status", "applied_at", "duration_ms"} <= set(rows[0])
    assert [(r["version"], r["name"], r["phase"], r["status"]) for r in rows] == [
        ("00001", "a", "expand", "applied"), ("00002", "b", "migrate", "pending")]  # fmt: skip
    assert datetime.fromisoformat(rows[0]["applied_at"]).tzinfo is not None
    assert isinstance(rows[0]["duration_ms"], int) and rows[1]["applied_at"] is None
    res = _run(cli, project, database_url, "status")
    assert re.search(r"^00001_a\s+expand\s+applied\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+ ms$", res.stdout, re.M)
    assert re.search(r"^00002_b\s+migrate\s+pending\s+-\s+-$", res.stdout, re.M)


def test_phase_applies_later_phases_first_and_history_is_a_set(project, database_url, cli):
    project.add("00001_a", "CREATE TABLE a (x int);")
    project.add("00002_fill", "INSERT INTO a VALUES (1);", manifest={"phase": "migrate"})
    project.add("00003_b", "CREATE TABLE b (x int);")
    res = _run(cli, project, database_url, "apply", "--phase", "expand")
    assert res.returncode == 0 and "applied 2 migrations" in res.stdout
    res = _run(cli, project, database_url, "status", "--format", "json")
    assert [r["status"] for r in json.loads(res.stdout)] == ["applied", "pending", "applied"]
    res = _run(cli, project, database_url, "apply")
    assert res.returncode == 0 and "00002_fill is older than the newest applied migration" in res.stderr


def test_history_schema_and_table_are_configurable(project, database_url, db, cli):
    (project.root / "sqlmig.toml").write_text('history_schema = "ops"\nhistory_table = "schema_migrations"\n')
    project.add("00001_a", "CREATE TABLE a (x int);")
    assert _run(cli, project, database_url, "apply").returncode == 0
    assert db.execute("SELECT to_regclass('ops.schema_migrations'), to_regclass('public.sqlmig_history')"
                      ).fetchone() == ("ops.schema_migrations", None)  # fmt: skip
    res = _run(cli, project, database_url, "status", "--format", "json")
    assert json.loads(res.stdout)[0]["status"] == "applied"
    res = cli("status", "--format", "json", "--project", str(project.root), "--database-url", database_url,
              env={"SQLMIG_HISTORY_TABLE": "other_history"})  # fmt: skip
    assert json.loads(res.stdout)[0]["status"] == "pending"  # the environment overrides the file
    (project.root / "sqlmig.toml").write_text('history_table = "bad name"\n')
    res = _run(cli, project, database_url, "status")
    assert res.returncode == 2 and "history_table must be a plain identifier" in res.stderr


def test_database_url_precedence_end_to_end(project, database_url, pg_server, cli):
    """flag > SQLMIG_DATABASE_URL > DATABASE_URL > sqlmig.toml: each names the database it used."""
    project.add("00001_a", "CREATE TABLE a (x int);")
    bad = "postgresql://nobody@127.0.0.1:1/nowhere"
    (project.root / "sqlmig.toml").write_text(f'database_url = "{database_url}"\n')
    res = cli("status", "--project", str(project.root))
    assert res.returncode == 0 and "(sqlmig.toml)" in res.stderr
    res = cli("status", "--project", str(project.root), env={"DATABASE_URL": bad})
    assert res.returncode == 1 and "cannot connect to postgresql://nobody@127.0.0.1:1/nowhere ($DATABASE_URL)" in (
        res.stderr)  # fmt: skip
    res = cli("status", "--project", str(project.root), env={"DATABASE_URL": bad, "SQLMIG_DATABASE_URL": database_url})
    assert res.returncode == 0 and "($SQLMIG_DATABASE_URL)" in res.stderr
    res = cli("status", "--project", str(project.root), "-d", database_url,
              env={"DATABASE_URL": bad, "SQLMIG_DATABASE_URL": bad})  # fmt: skip
    assert res.returncode == 0 and "(--database-url)" in res.stderr


def test_new_numbers_migrations_and_its_templates_load(project, database_url, cli):
    root = project.root
    res = cli("new", "create_orders", "--sequential", "--project", str(root))
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(root / "migrations/00001_create_orders.sql"),
                                  str(root / "rollback/00001_create_orders.sql"),
                                  str(root / "manifests/00001_create_orders.yaml")]  # fmt: skip
    res = cli("new", "backfill_orders", "--phase", "migrate", "--project", str(root))  # follows the numbering
    assert "migrations/00002_backfill_orders.sql" in res.stdout
    assert "phase: migrate" in (root / "manifests/00002_backfill_orders.yaml").read_text()
    assert cli("new", "Bad-Name", "--project", str(root)).returncode == 2

    # the templates load (the manifest is valid), but an unwritten forward file stops apply and plan
    from sqlmig.config import load_settings
    from sqlmig.project import load_project

    assert [m.version for m in load_project(load_settings(root)).migrations] == ["00001", "00002"]
    for command in ("plan", "apply"):
        res = _run(cli, project, database_url, command)
        assert res.returncode == 2
        assert "migrations/00001_create_orders.sql: file holds no SQL statements" in res.stderr
    for stem, sql, down in (
        ("00001_create_orders", "CREATE TABLE orders (id int);", "DROP TABLE orders;"),
        ("00002_backfill_orders", "INSERT INTO orders VALUES (1);", "DELETE FROM orders;"),
    ):
        with (root / "migrations" / f"{stem}.sql").open("a") as f:
            f.write(sql + "\n")
        with (root / "rollback" / f"{stem}.sql").open("a") as f:
            f.write(down + "\n")
    if (root / "migrations.sum").exists():  # `sqlmig new` keeps the integrity sum file, if the project has one
        assert cli("hash", "--project", str(root)).returncode == 0
    res = _run(cli, project, database_url, "apply")
    assert res.returncode == 0, res.stderr
    assert _run(cli, project, database_url, "rollback", "--steps", "2", "--yes").returncode == 0


def test_new_uses_a_timestamp_in_a_fresh_project(tmp_path, cli):
    res = cli("new", "first", "--project", str(tmp_path))
    assert res.returncode == 0, res.stderr
    version = res.stdout.split("/migrations/")[1].split("_")[0]
    assert len(version) == 14 and abs(int(version) - int(datetime.now(UTC).strftime("%Y%m%d%H%M%S"))) < 10000
    res = cli("new", "second", "--project", str(tmp_path))
    assert int(res.stdout.split("/migrations/")[1].split("_")[0]) > int(version)


def _with_stdout_closed(*args: str) -> tuple[int, str]:
    """Run sqlmig with its stdout a pipe whose reader has already gone, as in `sqlmig status | head -0`."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLMIG_DATABASE_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "sqlmig", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    proc.stdout.close()
    stderr = proc.stderr.read()
    return proc.wait(timeout=120), stderr


def test_a_closed_stdout_pipe_ends_quietly_and_a_migration_still_completes(project, database_url, db):
    code, stderr = _with_stdout_closed("lint", "--list-rules")
    assert (code, stderr) == (0, "")
    for n in range(1, 4):
        project.add(f"0000{n}_t{n}", f"CREATE TABLE t{n} (a int);", f"DROP TABLE t{n};")
    code, stderr = _with_stdout_closed("apply", "--format", "json", "-d", database_url, "-p", str(project.root))
    assert code == 0 and "Broken pipe" not in stderr and "error" not in stderr, stderr
    assert db.execute("SELECT count(*) FROM sqlmig_history WHERE status = 'applied'").fetchone()[0] == 3
    code, stderr = _with_stdout_closed("status", "-d", database_url, "-p", str(project.root))
    assert code == 0 and "Broken pipe" not in stderr and "error" not in stderr, stderr


def test_an_embedded_server_that_does_not_start_is_one_short_error(cli):
    """No library log, no pg_ctl command line, no platformdirs warning: sqlmig's error with the log's last lines."""
    import shutil
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp(prefix="sqlmig-test-badpg-"))  # not under pytest's 0700 basetemp (see conftest)
    try:
        root.chmod(0o755)
        (root / "migrations").mkdir()
        (root / ".sqlmig" / "pgdata").mkdir(parents=True)
        (root / ".sqlmig" / "pgdata" / "PG_VERSION").write_text("18\n")  # "initialised", but no configuration
        res = cli("status", "--project", str(root), env={"XDG_RUNTIME_DIR": ""})
        assert res.returncode == 1, res.stderr
        lines = res.stderr.splitlines()
        assert lines[0] == "error: the embedded PostgreSQL did not start (pg_ctl exited with status 1)", res.stderr
        assert lines[1] == f"  last lines of {root}/.sqlmig/pgdata/log:"
        assert "postgresql.conf" in res.stderr and len(lines) <= 13
        for noise in ("Failed postgres command", "Showing contents", "Warning", "Traceback", "pginstall/bin"):
            assert noise not in res.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["apply", "--phase", "bogus"], "--phase must be one of expand, migrate, contract, got 'bogus'"),
        (["plan", "--phase", "bogus"], "--phase must be one of"),
        (["rollback", "--steps", "0"], "--steps must be 1 or more, got 0"),
        (["plan", "--rollback", "--steps", "0"], "--steps must be 1 or more, got 0"),
        (["rollback", "--steps", "1", "--to", "3"], "give --steps or --to, not both"),
        (["apply", "--to", "abc"], "--to expects a version (digits), got 'abc'"),
        (["apply", "--lock-wait", "-1"], "--lock-wait / lock_wait (seconds; 0: try the lock once) must be 0 or more"),
    ],
)
def test_bad_options_are_refused_before_connecting(project, cli, args, message):
    """No connection attempt and no embedded server started for a flag that cannot be right."""
    project.add("00001_t", "CREATE TABLE t (a int);")
    res = cli(*args, "--project", str(project.root))  # no URL: the embedded server would start
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f"error: {message}"), res.stderr
    assert not (project.root / ".sqlmig").exists()
    res = cli(*args, "--project", str(project.root), "--database-url", "postgresql://u:pw1234@127.0.0.1:1/x")
    assert res.returncode == 2 and "cannot connect" not in res.stderr, res.stderr


def test_new_refuses_sequential_in_a_timestamp_project_and_a_missing_project_folder(tmp_path, cli):
    assert cli("new", "first", "--project", str(tmp_path)).returncode == 0
    res = cli("new", "second", "--sequential", "--project", str(tmp_path))
    assert res.returncode == 2
    assert "--sequential: this project numbers its migrations by UTC timestamp" in res.stderr
    assert len(list((tmp_path / "migrations").iterdir())) == 1
    res = cli("new", "x", "--project", str(tmp_path / "missing"))
    assert res.returncode == 2
    assert res.stderr.startswith(f"error: project folder {tmp_path / 'missing'} does not exist"), res.stderr
    assert "pass --project" not in res.stderr


def test_help_and_version(cli):
    res = cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"sqlmig {__version__}"
    res = cli("--help")
    assert res.returncode == 0
    for command in ("plan", "apply", "rollback", "status", "new", "repair"):
        assert re.search(rf"^\W*{command}\b", res.stdout, re.M), command
    res = cli("apply", "--help")
    for option in ("--database-url", "--project", "--format", "--lock-wait", "--yes", "--dry-run", "--to", "--phase"):
        assert option in res.stdout
    res = cli("apply", "--no-such-flag")
    assert res.returncode == 2


def test_a_server_error_in_sqlmigs_own_bookkeeping_is_a_message_not_a_traceback(project, database_url, db, cli):
    role = f"nopriv_{db.info.dbname[-8:]}"
    db.execute(f"CREATE ROLE {role} LOGIN")
    try:
        info = psycopg.conninfo.conninfo_to_dict(database_url)
        url = psycopg.conninfo.make_conninfo(database_url, user=role)
        project.add("00001_t", "CREATE TABLE t (a int);")
        res = cli("apply", "--database-url", url, "--project", str(project.root))
        assert res.returncode == 1, res.stderr
        assert "error: the database refused sqlmig's own bookkeeping" in res.stderr
        assert "42501: permission denied for schema public" in res.stderr
        assert "lacks a privilege sqlmig needs" in res.stderr
        assert "Traceback" not in res.stderr
        assert info["dbname"] in res.stderr  # the "using" line names the database
    finally:
        db.execute(f"DROP ROLE {role}")
