"""`sqlmig check`, `schema`, `hash` and the migrations.sum side of `new` and `apply`, as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import REPO, ProjectBuilder

FIXTURES = REPO / "tests" / "check" / "fixtures"


def copy_example(dest: Path) -> Path:
    for sub in ("migrations", "rollback", "manifests"):
        shutil.copytree(REPO / sub, dest / sub)
    shutil.copy(REPO / "migrations.sum", dest / "migrations.sum")
    return dest


def test_the_example_project_passes_check_clean(tmp_path, cli) -> None:
    res = cli("check", "--project", str(copy_example(tmp_path)))
    assert res.returncode == 0, (
        f"{res.stdout}\n{res.stderr}\n(the example's migrations.sum is stale after an edit? "
        "run `sqlmig hash` at the repository root)"
    )
    assert res.stdout == "no problems found\n"
    assert res.stderr == "checked 8 migrations\n"


def test_exit_codes_errors_warnings_integrity(cli) -> None:
    assert cli("check", "-p", str(FIXTURES / "phase-expand" / "bad")).returncode == 2
    warned = cli("check", "-p", str(FIXTURES / "unbatched" / "bad"))
    assert warned.returncode == 0 and warned.stdout.endswith("2 warnings in 1 file\n")
    assert cli("check", "-p", str(FIXTURES / "unbatched" / "bad"), "--strict").returncode == 2
    assert cli("check", "-p", str(FIXTURES / "sum" / "bad")).returncode == 3


def test_text_format_word_for_word(cli) -> None:
    res = cli("check", "-p", str(FIXTURES / "rollback-claims-undo" / "bad"))
    assert res.stdout.splitlines() == [
        "rollback/00001_drop_legacy.sql:1:1: check/rollback-claims-undo error point_of_no_return is declared "
        "(drops products.legacy_code and its data), but this rollback file claims to undo the change",
        "    hint: delete rollback/00001_drop_legacy.sql: rollback never crosses a point of no return; or drop "
        "point_of_no_return if this rollback really restores everything",
        "",
        "1 error in 1 file",
    ]


def test_json_format(cli) -> None:
    res = cli("check", "-p", str(FIXTURES / "transaction" / "bad"), "--format", "json")
    data = json.loads(res.stdout)
    assert (data["exit_code"], data["migrations"], data["base"], data["new"]) == (2, 1, None, [])
    assert data["summary"] == "2 errors in 2 files"
    assert data["findings"][0] == {
        "rule": "check/transaction", "severity": "error", "path": "migrations/00001_index_sku.sql", "line": 1,
        "column": 1, "message": "transaction: per-migration, but CREATE INDEX CONCURRENTLY cannot run inside a "
        "transaction block", "hint": "set transaction: none in manifests/00001_index_sku.yaml and keep this "
        "statement in a migration of its own",
    }  # fmt: skip


def test_github_format_paths_from_the_repository_root(cli) -> None:
    """The fixture project sits in a subfolder of this repository: annotations name the file from the root."""
    from sqlmig.gitbase import repo_prefix

    project = FIXTURES / "transaction-none" / "bad"
    prefix = repo_prefix(project) or ""  # tests/check/fixtures/transaction-none/bad/ in a clone of this repository
    res = cli("check", "-p", str(project), "--format", "github")
    assert res.returncode == 0
    assert res.stdout.splitlines() == [
        f"::warning file={prefix}migrations/00001_index_sku.sql,line=3,col=1,title=check/transaction-none::"
        "check/transaction-none: transaction: none with 2 statements: if a later one fails, the earlier ones stay "
        "applied and the schema is half-changed (hint: split the migration: the statement that needs transaction: "
        "none alone, the rest in a per-migration migration)",
        "1 warning in 1 file",
    ]


def test_a_project_that_does_not_load_is_still_checked(tmp_path, cli) -> None:
    """A broken manifest is reported with its position, and the other migrations are still held to their SQL."""
    p = ProjectBuilder(tmp_path / "p")
    p.add("00001_a", "DROP TABLE legacy;\n", "CREATE TABLE legacy (id int);\n")
    p.add("00002_b", "SELECT 1;\n", "SELECT 1;\n", "description: b\nphase: sideways\n")
    res = cli("check", "-p", str(p.root))
    assert res.returncode == 2
    lines = [line for line in res.stdout.splitlines() if ": check/" in line]
    assert lines == [
        "manifests/00002_b.yaml:2:8: check/manifest error $.phase: 'sideways' is not one of: expand, migrate, contract",
        "migrations.sum:1:1: check/sum-missing warning no migrations.sum: two branches that each add a migration "
        "will merge without a conflict",
        "migrations/00001_a.sql:1:1: check/phase-expand error phase: expand, but DROP TABLE destroys the table and "
        "its data",
        "migrations/00001_a.sql:1:1: check/point-of-no-return error DROP TABLE destroys the table and its data, "
        "but the manifest declares no point_of_no_return",
    ]


def test_schema_prints_the_shipped_schema(cli) -> None:
    from sqlmig.manifest import schema

    res = cli("schema")
    assert res.returncode == 0
    assert json.loads(res.stdout) == schema()


def test_hash_then_new_keeps_the_sum_true(tmp_path, cli) -> None:
    project = copy_example(tmp_path)
    (project / "migrations.sum").unlink()
    res = cli("hash", "-p", str(project))
    assert (res.returncode, res.stdout) == (0, f"wrote {project / 'migrations.sum'}: 23 files\n")
    res = cli("new", "add_barcode", "--sequential", "-p", str(project))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [str(project / sub / f"00009_add_barcode.{ext}")
                                       for sub, ext in (("migrations", "sql"), ("rollback", "sql"),
                                                        ("manifests", "yaml"))]  # fmt: skip
    text = (project / "migrations.sum").read_text()
    assert text.count("00009_add_barcode") == 3
    res = cli("check", "-p", str(project))
    # the template is not a change yet: check says so, and the sum agrees with the files
    assert "check/sum" not in res.stdout
    assert "migrations/00009_add_barcode.sql:1:1: check/sql-file error file holds no SQL statements" in res.stdout


def test_renumber_refuses_the_newest_and_unknown_versions(tmp_path, cli) -> None:
    project = copy_example(tmp_path)
    res = cli("new", "--renumber", "8", "-p", str(project))
    assert (res.returncode, res.stderr.splitlines()[0]) == (
        2,
        "error: 00008_drop_products_legacy_code is already the newest migration; nothing to renumber",
    )
    res = cli("new", "--renumber", "42", "-p", str(project))
    assert (res.returncode, res.stderr.splitlines()[0]) == (
        2,
        "error: --renumber 42: no migration has that version or name",
    )
    res = cli("new", "-p", str(project))
    assert (res.returncode, res.stderr.splitlines()[0]) == (2, "error: missing NAME")


def test_apply_refuses_files_that_differ_from_migrations_sum(tmp_path, cli, database_url, db) -> None:
    project = copy_example(tmp_path)
    path = project / "migrations" / "00004_product_stock_view.sql"
    path.write_text(path.read_text() + "\n-- reviewed\n")
    planned = cli("plan", "--database-url", database_url, "-p", str(project))
    assert planned.returncode == 3  # plan refuses what apply would refuse
    assert "do not match migrations.sum (1 difference)" in planned.stderr and not planned.stdout
    res = cli("apply", "--yes", "--database-url", database_url, "-p", str(project))
    assert res.returncode == 3
    assert "error: " in res.stderr and "do not match migrations.sum (1 difference)" in res.stderr
    assert ("  migrations/00004_product_stock_view.sql: differs from its checksum in migrations.sum (line 15 of "
            "migrations.sum)") in res.stderr.splitlines()  # fmt: skip
    assert "run `sqlmig hash`" in res.stderr
    tables = db.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    assert tables == 0  # nothing ran, not even the history table
    assert cli("hash", "-p", str(project)).returncode == 0
    res = cli("apply", "--yes", "--database-url", database_url, "-p", str(project))
    assert res.returncode == 0, res.stderr


def test_a_fresh_template_reports_every_unfilled_file_at_once(tmp_path, cli) -> None:
    """QA: the empty rollback and the TODO description showed up only one at a time, after the earlier fixes."""
    project = str(tmp_path)
    assert cli("new", "add_x", "--sequential", "-p", project).returncode == 0
    res = cli("check", "-p", project)
    assert res.returncode == 2
    assert [line for line in res.stdout.splitlines() if ": check/" in line] == [
        "manifests/00001_add_x.yaml:2:14: check/template warning description is still a placeholder: "
        '"TODO: say what this change does"',
        "migrations/00001_add_x.sql:1:1: check/sql-file error file holds no SQL statements",
        "rollback/00001_add_x.sql:1:1: check/rollback-empty error the rollback file holds no statements",
    ]
    (tmp_path / "migrations" / "00001_add_x.sql").write_text("CREATE TABLE x (id int);\n")
    (tmp_path / "rollback" / "00001_add_x.sql").write_text("DROP TABLE x;\n")
    assert cli("hash", "-p", project).returncode == 0
    res = cli("check", "-p", project)
    assert res.returncode == 0 and "check/template warning" in res.stdout  # a warning: exit 0 ...
    assert cli("check", "-p", project, "--strict").returncode == 2  # ... and an error under --strict
    manifest = tmp_path / "manifests" / "00001_add_x.yaml"
    manifest.write_text(manifest.read_text().replace("TODO: say what this change does", "Create x."))
    assert cli("hash", "-p", project).returncode == 0
    assert cli("check", "-p", project, "--strict").stdout == "no problems found\n"


def test_every_psql_only_construct_in_a_file_and_the_rollback_at_once(tmp_path, cli) -> None:
    p = ProjectBuilder(tmp_path / "p")
    p.add("00001_load", "\\set owner app\nCREATE TABLE t (id int);\nALTER TABLE t OWNER TO :\"owner\";\n"
          "COPY t FROM stdin;\n1\n2\n\\.\nCOMMENT ON TABLE t IS :'note';\n", "-- nothing yet\n")  # fmt: skip
    res = cli("check", "-p", str(p.root))
    assert res.returncode == 2
    assert [line for line in res.stdout.splitlines() if ": check/" in line] == [
        "migrations.sum:1:1: check/sum-missing warning no migrations.sum: two branches that each add a migration "
        "will merge without a conflict",
        "migrations/00001_load.sql:1:1: check/sql-file error psql meta-command \\set is not supported (sqlmig sends "
        "SQL to the server, not to psql)",
        'migrations/00001_load.sql:3:1: check/sql-file error psql variable :"owner" is not supported (only psql '
        "substitutes it)",
        "migrations/00001_load.sql:4:1: check/sql-file error COPY … FROM stdin / TO stdout is not supported (its "
        "data stream is psql's)",
        "migrations/00001_load.sql:8:1: check/sql-file error psql variable :'note' is not supported (only psql "
        "substitutes it)",
        "rollback/00001_load.sql:1:1: check/rollback-empty error the rollback file holds no statements",
    ]


def test_the_count_names_migrations_that_could_not_be_read(tmp_path, cli) -> None:
    """QA: 'checked 7 migrations' for a project of 8, one with a broken manifest."""
    project = copy_example(tmp_path)
    manifest = project / "manifests" / "00002_create_stock.yaml"
    manifest.write_text(manifest.read_text() + "phase: bogus\n")
    res = cli("check", "-p", str(project))
    assert res.returncode == 3  # migrations.sum no longer matches the manifest
    assert res.stderr == "checked 8 migrations (1 could not be read)\n"
    data = json.loads(cli("check", "-p", str(project), "--format", "json").stdout)
    assert (data["migrations"], data["unreadable"]) == (8, 1)


def test_django_add_field_with_a_default_judged_by_what_old_code_can_still_do(tmp_path, cli, db) -> None:
    """QA: Django's ADD COLUMN … DEFAULT, then DROP DEFAULT, was an error because of the DROP DEFAULT.

    The column is new, so dropping its default breaks no old reader; what matters is where the column
    ends up. Nullable: old INSERTs still work, and check passes. NOT NULL: old INSERTs fail on the real
    server, exactly as for ADD COLUMN … NOT NULL without a default, and check says so in those words.
    """
    import psycopg

    for null, ok in (("NULL", True), ("NOT NULL", False)):
        forward = (f'ALTER TABLE "users" ADD COLUMN "status" integer DEFAULT 1 {null};\n'
                   'ALTER TABLE "users" ALTER COLUMN "status" DROP DEFAULT;\n')  # fmt: skip
        db.execute("DROP TABLE IF EXISTS users; CREATE TABLE users (id int PRIMARY KEY, name text)")
        db.execute("INSERT INTO users VALUES (1, 'before')")
        db.execute(forward)
        old_insert = "INSERT INTO users (id, name) VALUES (2, 'old code')"
        if ok:
            db.execute(old_insert)
        else:
            try:
                db.execute(old_insert)
                raise AssertionError("the old INSERT should fail")
            except psycopg.errors.NotNullViolation:
                pass
        p = ProjectBuilder(tmp_path / null.replace(" ", "_"))
        p.add("00001_add_status", forward, 'ALTER TABLE "users" DROP COLUMN "status";\n')
        assert cli("hash", "-p", str(p.root)).returncode == 0
        res = cli("check", "-p", str(p.root))
        if ok:
            assert (res.returncode, res.stdout) == (0, "no problems found\n"), res.stdout
        else:
            assert res.returncode == 2
            assert res.stdout.splitlines()[0] == (
                "migrations/00001_add_status.sql:2:1: check/phase-expand error phase: expand, but DROP DEFAULT leaves "
                "users.status, which this migration adds, NOT NULL without a default: INSERTs by code that does not "
                "know the column yet start failing"
            )
            assert "DROP DEFAULT: writers that relied on the default" not in res.stdout


def test_a_stray_file_is_said_once_not_also_as_missing_from_the_sum(tmp_path, cli) -> None:
    root = copy_example(tmp_path)
    (root / "migrations" / "notes.txt").write_text("to do\n")  # not in migrations.sum: hashing would not help
    res = cli("check", "--project", str(root), "--format", "json")
    about = [f for f in json.loads(res.stdout)["findings"] if f["path"] == "migrations/notes.txt"]
    assert [f["rule"] for f in about] == ["check/files"]
    assert res.returncode == 2  # a malformed project, not an integrity finding
    (root / "migrations" / "notes.txt").unlink()
    (root / "migrations" / "00001_create_catalog.sql").write_text("SELECT 1;\n")  # sum findings still come
    assert cli("check", "--project", str(root)).returncode == 3
