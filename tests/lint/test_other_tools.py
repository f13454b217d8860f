"""Files written by other tools, linted as a user brings them (QA findings on real Django, goose, dbmate output)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from sqlmig.lint import lint_sql
from sqlmig.manifest import parse_manifest
from tests.lint.test_cli import sarif_schema, write  # noqa: F401  (the schema fixture)

DJANGO_SQLMIGRATE = """BEGIN;
--
-- Add field status to user
--
ALTER TABLE "users" ADD COLUMN "status" integer DEFAULT 1 NOT NULL;
ALTER TABLE "users" ALTER COLUMN "status" DROP DEFAULT;
COMMIT;
"""


def manifest(**fields: object):
    data = {"description": "from another tool", "phase": "expand", **fields}
    return parse_manifest(yaml.safe_dump(data).encode(), "m.yaml")


def lines(findings: list, rule: str | None = None) -> list[str]:
    return [f"{f.rule} {f.severity} {f.line} {f.message}" for f in findings if rule in (None, f.rule)]


def test_django_required_column_and_its_rollback(cli, project) -> None:
    body = DJANGO_SQLMIGRATE.replace("BEGIN;\n", "").replace("COMMIT;\n", "")
    project.add("0001_status", body, 'ALTER TABLE "users" DROP COLUMN "status";\n')
    r = cli("lint", "-p", str(project.root), cwd=project.root)
    assert "SM501" not in r.stdout and r.returncode == 0, r.stdout


def test_rollback_drops_the_table_then_the_trigger_function() -> None:
    forward = (
        "CREATE TABLE a (id bigint);\n"
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
        "CREATE TRIGGER a_t BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION f();\n"
    )
    found = lint_sql("DROP TABLE a;\nDROP FUNCTION f();\n", "down.sql", manifest=manifest(), forward=forward)
    assert lines(found, "SM501") == []
    wrong = lint_sql("DROP FUNCTION f();\nDROP TABLE a;\n", "down.sql", manifest=manifest(), forward=forward)
    assert lines(wrong, "SM501") == [
        "SM501 error 1 rollback drops function f before the trigger that uses it (a_t on a)"
    ]


def test_the_readme_capture_recipe_is_reversible(cli, project) -> None:
    project.add(
        "0001_fix_plans",
        "UPDATE accounts SET plan = 'free' WHERE plan IS NULL AND id BETWEEN :batch_start AND :batch_end;\n",
        "-- sqlmig:restore-captured\n",
        manifest={"phase": "migrate", "batch": {"table": "accounts", "capture": True}},
    )
    r = cli("lint", "-p", str(project.root), "--strict", cwd=project.root)
    assert "SM501" not in r.stdout and r.returncode == 0, r.stdout


def test_unquoted_non_ascii_identifiers(cli, project, tmp_path: Path) -> None:
    project.add("0001_cafe", "CREATE TABLE café (naïve int);\n", "SELECT 1;\n")
    r = cli("lint", "-p", str(project.root), cwd=project.root)
    assert "SM501 error forward creates table café; rollback never drops it" in r.stdout
    # outside a project lint still knows the table is the file's own (new, empty, no lock to worry about)
    f = write(tmp_path / "cafe.sql", "CREATE TABLE café (naïve int);\nCREATE INDEX ON café (naïve);\n"
              "ALTER TABLE café ADD COLUMN prix int;\n")  # fmt: skip
    r = cli("lint", str(f), cwd=tmp_path)
    assert r.stdout.startswith("no problems found") and r.returncode == 0, r.stdout


def test_begin_commit_outside_a_project_is_a_warning(cli, tmp_path: Path) -> None:
    f = write(tmp_path / "django_0002.sql", DJANGO_SQLMIGRATE)
    r = cli("lint", str(f), cwd=tmp_path)
    assert r.returncode == 0
    assert r.stdout.splitlines()[0] == (
        "django_0002.sql:1:1: SM103 warning transaction control written in the file (lines 1, 7): right for psql, "
        "but a runner that wraps each migration in a transaction (sqlmig in a project, and most others) has it "
        "committed early"
    )
    assert cli("lint", "--strict", str(f), cwd=tmp_path).returncode == 1
    # in a project the same statements are errors, one per statement, as before
    found = lint_sql(DJANGO_SQLMIGRATE, "m.sql", manifest=manifest())
    assert [(f.severity, f.line) for f in found if f.rule == "SM103"] == [("error", 1), ("error", 7)]


GOOSE = """-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION touch();
"""


def test_goose_dbmate_and_sql_migrate_markers() -> None:
    found = lint_sql(GOOSE, "00012_touch.sql", manifest=manifest())
    assert lines(found, "SM508") == [
        "SM508 error 6 -- +goose Down at line 6: sqlmig runs the whole file, so the goose down section runs as part "
        "of the forward migration, right after the up section"
    ]
    assert found[0].hint == "move the down section to rollback/00012_touch.sql and delete the goose markers"
    dbmate = (
        "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n\n-- migrate:down\nDROP INDEX i;\n"
    )
    got = [f for f in lint_sql(dbmate, "20240101_i.sql") if f.rule == "SM508"]
    assert [(f.severity, f.line) for f in got] == [("error", 4)]
    assert got[0].hint.endswith("it asked for no transaction: set transaction: none in the manifest")
    # the up section alone: harmless markers, a warning
    up_only = GOOSE.split("\n\n")[0] + "\n"
    assert lines(lint_sql(up_only, "x.sql"), "SM508") == [
        "SM508 warning 1 goose markers are plain comments to sqlmig, which runs the whole file: -- +goose Up "
        "(line 1), -- +goose StatementBegin (line 2), -- +goose StatementEnd (line 4)"
    ]
    # a rollback file that still holds the up section
    both = "-- +migrate Up\nCREATE TABLE t (id int);\n-- +migrate Down\nDROP TABLE t;\n"
    rollback = lint_sql(both, "down.sql", manifest=manifest(), forward="CREATE TABLE t (id int);\n")
    assert lines(rollback, "SM508") == [
        "SM508 error 1 -- +migrate Up at line 1: sqlmig runs the whole rollback file, so the sql-migrate up section "
        "runs as part of the rollback"
    ]
    # sqitch's headers and a plain comment mentioning a tool are not markers
    plain = "-- Deploy app:t to pg\n-- Revert app:t from pg\n-- ported from goose: Down was empty\nSELECT 1;\n"
    assert lines(lint_sql(plain, "x.sql"), "SM508") == []


def test_sarif_when_lint_cannot_run(cli, tmp_path: Path, sarif_schema: dict) -> None:  # noqa: F811
    r = cli("lint", "--format", "sarif", str(tmp_path / "missing.sql"), cwd=tmp_path)
    assert r.returncode == 2 and "no such file or folder" in r.stderr
    doc = json.loads(r.stdout)
    jsonschema.Draft4Validator(sarif_schema).validate(doc)
    run = doc["runs"][0]
    assert run["results"] == []
    assert run["invocations"] == [
        {
            "executionSuccessful": False,
            "exitCode": 2,
            "toolExecutionNotifications": [
                {"level": "error", "message": {"text": f"no such file or folder: {tmp_path / 'missing.sql'}"}}
            ],
        }
    ]
    write(tmp_path / "sqlmig.toml", '[lint]\ndisable = ["no-such-rule"]\n')
    r = cli("lint", "--format", "sarif", str(write(tmp_path / "ok.sql", "SELECT 1;\n")), cwd=tmp_path)
    doc = json.loads(r.stdout)
    jsonschema.Draft4Validator(sarif_schema).validate(doc)
    assert r.returncode == 2 and doc["runs"][0]["invocations"][0]["executionSuccessful"] is False
    assert "unknown rule: no-such-rule" in doc["runs"][0]["invocations"][0]["toolExecutionNotifications"][0][
        "message"]["text"]  # fmt: skip
