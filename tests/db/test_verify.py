"""`sqlmig verify` finds rollbacks that look right but are not, with a readable diff; a correct project passes."""

from __future__ import annotations

import json
import shutil

import pytest

from sqlmig.project import load_project
from sqlmig.verify import verify_project
from tests.conftest import REPO


def _verify(project, pg_server, **kw):
    settings = project.settings()
    return verify_project(load_project(settings), settings, scratch_url=pg_server.admin_url, **kw)


def _messages(check) -> list[str]:
    return [c.message for c in check.rollback_changes + check.reapply_changes]


ITEMS = """CREATE TABLE items (id bigint PRIMARY KEY, sku text NOT NULL, price numeric(10, 2) DEFAULT 0,
                    note varchar(40), created date)"""


def test_example_project_round_trips_clean(tmp_path, pg_server, cli):
    for sub in ("migrations", "rollback", "manifests"):
        shutil.copytree(REPO / sub, tmp_path / sub)
    res = cli("verify", "--scratch-url", pg_server.admin_url, "--project", str(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert sum(1 for line in lines if line.strip().startswith("ok ")) == 7
    assert "not reversible  00008_drop_products_legacy_code: a point of no return by design" in res.stdout
    assert "7 round-tripped clean, 1 not reversible by design" in lines[-1]
    # the scratch database is gone afterwards
    import psycopg

    with psycopg.connect(pg_server.admin_url) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'sqlmig_verify_%'").fetchone()[0]
    assert left == 0


@pytest.mark.parametrize(
    ("up", "down", "expected"),
    [
        pytest.param("ALTER TABLE items ALTER COLUMN price SET DEFAULT 5",
                     "ALTER TABLE items ALTER COLUMN price SET DEFAULT 1",
                     "column items.price: default 0 → 1", id="default-restored-wrong"),
        pytest.param("DROP INDEX items_sku_idx", "CREATE INDEX items_sku_idx ON items (sku, id)",
                     "index items_sku_idx: definition changed", id="index-different-definition"),
        pytest.param("ALTER TABLE items DROP COLUMN note", "ALTER TABLE items ADD COLUMN note varchar(50)",
                     "column items.note: type character varying(40) → character varying(50)",
                     id="column-different-typmod"),
        pytest.param("ALTER TYPE mood ADD VALUE 'happy'", "SELECT 1", "enum mood: value 'happy' added",
                     id="enum-value-not-removable"),
        pytest.param("CREATE OR REPLACE FUNCTION price_of(i bigint) RETURNS numeric LANGUAGE sql "
                     "AS $$ SELECT price * 2 FROM items WHERE id = i $$",
                     "CREATE OR REPLACE FUNCTION price_of(i bigint) RETURNS numeric LANGUAGE sql "
                     "AS $$ SELECT price FROM items WHERE id = i $$",
                     "function price_of(i bigint): body changed", id="function-body-not-restored"),
    ],
)  # fmt: skip
def test_rollback_that_looks_right_but_is_not(project, pg_server, up, down, expected):
    base = (ITEMS + ";\nCREATE INDEX items_sku_idx ON items (sku);\nCREATE TYPE mood AS ENUM ('sad', 'ok');\n"
            "CREATE FUNCTION price_of(i bigint) RETURNS numeric LANGUAGE sql AS $$ SELECT price * 2 FROM items "
            "WHERE id = i $$;\n")  # fmt: skip
    project.add("0001_base", base, "DROP FUNCTION price_of(bigint); DROP TYPE mood; DROP TABLE items;")
    project.add("0002_change", up + ";", down + ";")
    result = _verify(project, pg_server)
    first, second = result.checks
    assert first.status == "ok"
    assert second.status == "schema_differs"
    assert expected in _messages(second)
    assert result.exit_code == 3


def test_index_diff_shows_both_definitions(project, pg_server):
    project.add("0001_base", ITEMS + "; CREATE INDEX items_sku_idx ON items (sku);", "DROP TABLE items;")
    project.add("0002_drop_idx", "DROP INDEX items_sku_idx;", "CREATE INDEX items_sku_idx ON items (sku, id);")
    change = _verify(project, pg_server).checks[1].rollback_changes[0]
    assert change.detail == ("expected: CREATE INDEX items_sku_idx ON public.items USING btree (sku)",
                             "actual:   CREATE INDEX items_sku_idx ON public.items USING btree (sku, id)")  # fmt: skip


def test_function_body_diff_is_readable(project, pg_server):
    body = "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN {};\nEND $$;"
    project.add("0001_f", body.format(1), "DROP FUNCTION f();")
    project.add("0002_f2", body.format(2), body.format(3))
    change = _verify(project, pg_server).checks[1].rollback_changes[0]
    assert change.message == "function f(): body changed"
    assert "-  RETURN 1;" in change.detail and "+  RETURN 3;" in change.detail


def test_column_readded_at_another_position_is_a_warning(project, pg_server):
    project.add("0001_base", ITEMS + ";", "DROP TABLE items;")
    project.add(
        "0002_drop_note", "ALTER TABLE items DROP COLUMN note;", "ALTER TABLE items ADD COLUMN note varchar(40);"
    )
    check = _verify(project, pg_server).checks[1]
    assert check.status == "warning"
    assert _messages(check) == ["table items: column order (id, sku, price, note, created) → "
                                "(id, sku, price, created, note)"]  # fmt: skip
    assert check.rollback_changes[0].severity == "warning"


def test_data_patch_whose_rollback_does_not_restore_the_data_warns(project, pg_server):
    project.add("0001_base", ITEMS + "; INSERT INTO items VALUES (1, 'a', 10), (2, 'b', 20);", "DROP TABLE items;")
    project.add("0002_reprice", "UPDATE items SET price = price * 2;", "UPDATE items SET price = price / 2 + 1;")
    project.add("0003_purge", "DELETE FROM items WHERE id = 2;", "SELECT 1;")
    result = _verify(project, pg_server)
    reprice, purge = result.checks[1], result.checks[2]
    assert reprice.status == "warning"
    assert reprice.data_warnings == ["table items: same 2 rows, but their values differ after the rollback "
                                     "(the rollback does not restore the data the migration changed)"]  # fmt: skip
    assert purge.data_warnings == ["table items: 2 rows before the migration, 1 after its rollback"]
    assert result.exit_code == 0


def test_rollback_failure_exits_1_with_file_line_and_sqlstate(project, pg_server, cli):
    project.add("0001_base", ITEMS + ";", "DROP TABLE items;")
    project.add("0002_col", "ALTER TABLE items ADD COLUMN extra int;", "SELECT 1;\nALTER TABLE items DROP COLUMN nope;")
    project.add("0003_never", "CREATE TABLE never_reached (id int);", "DROP TABLE never_reached;")
    res = cli("verify", "--scratch-url", pg_server.admin_url, "--project", str(project.root))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "FAILED          0002_col" in res.stdout
    assert "rollback/0002_col.sql:2: statement failed: ALTER TABLE items DROP COLUMN nope" in res.stdout
    assert '42703: column "nope" of relation "items" does not exist' in res.stdout
    assert "0003_never" not in res.stdout  # verification stops at the first failure
    gh = cli("verify", "--scratch-url", pg_server.admin_url, "--project", str(project.root), "--format", "github")
    assert gh.returncode == 1
    assert "::error file=rollback/0002_col.sql,line=2," in gh.stdout


def test_enum_rollback_and_failed_reapply_is_a_schema_difference(project, pg_server):
    """ALTER TYPE … ADD VALUE cannot be undone; the re-apply then fails because the value exists."""
    project.add("0001_mood", "CREATE TYPE mood AS ENUM ('sad');", "DROP TYPE mood;")
    project.add("0002_happy", "ALTER TYPE mood ADD VALUE 'happy';", "SELECT 1;")
    check = _verify(project, pg_server).checks[1]
    assert check.status == "schema_differs"
    assert _messages(check) == ["enum mood: value 'happy' added"]
    assert check.failed_step == "re-apply" and check.error.server.sqlstate == "42710"


def test_from_round_trips_only_the_new_migrations_and_json_output(project, pg_server, cli):
    project.add("0001_base", ITEMS + ";", "DROP TABLE items;")
    project.add("0002_bad_old", "ALTER TABLE items ALTER COLUMN price SET DEFAULT 5;", "SELECT 1;")
    project.add("0003_new", "CREATE INDEX items_sku ON items (sku);", "DROP INDEX items_sku;")
    res = cli("verify", "--scratch-url", pg_server.admin_url, "--project", str(project.root), "--from", "3",
              "--format", "json")  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    data = json.loads(res.stdout)
    assert [m["status"] for m in data["migrations"]] == ["applied", "applied", "ok"]
    assert data["exit_code"] == 0


def test_base_ref_round_trips_only_migrations_added_since(project, pg_server, cli):
    import subprocess

    project.add("0001_base", ITEMS + ";", "DROP TABLE items;")
    project.add("0002_bad_old", "ALTER TABLE items ALTER COLUMN price SET DEFAULT 5;", "SELECT 1;")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(project.root)]
    subprocess.run([*git[:-2], "init", "-q", str(project.root)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    project.add("0003_new", "ALTER TABLE items ADD COLUMN c int;", "ALTER TABLE items DROP COLUMN c;")
    res = cli("verify", "--scratch-url", pg_server.admin_url, "--project", str(project.root), "--base", "HEAD",
              "--format", "json")  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert [m["status"] for m in json.loads(res.stdout)["migrations"]] == ["applied", "applied", "ok"]


def test_verify_runs_manifest_verify_queries(project, pg_server):
    project.add("0001_base", ITEMS + ";", "DROP TABLE items;")
    project.add("0002_check", "INSERT INTO items VALUES (1, 'a');", "DELETE FROM items;",
                manifest={"verify": "SELECT count(*) = 2 FROM items"})  # fmt: skip
    check = _verify(project, pg_server).checks[1]
    assert check.status == "failed" and check.failed_step == "apply"
    assert check.error.message == "verify query did not return true (returned False): SELECT count(*) = 2 FROM items"
