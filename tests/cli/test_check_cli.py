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
