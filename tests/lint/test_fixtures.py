"""Every rule against its fixtures: tests/lint/fixtures/SM###/{bad,good}.sql.

bad.sql must produce exactly the findings in bad.expected (`line:col severity message`, one per
line, for the rule under test); good.sql, which holds the safe pattern the rule's hint recommends,
must produce none. Comment lines at the top of a fixture give it context:

    -- fixture: manifest {transaction: none, phase: contract}   (a project migration with this manifest)
    -- fixture: pg 18                                            (target PostgreSQL version)
    -- fixture: enable SM205                                     (turn on an opt-in rule)
    -- fixture: verbose
    -- fixture: rollback <forward SQL>                           (the file is the rollback of that SQL)
    -- fixture: linted below                                     (what is above is earlier migrations)
    -- fixture: unparsable                                       (skip the parse-clean guard, on purpose)

Regenerate the expected files after a deliberate wording change:
    SQLMIG_UPDATE_FIXTURES=1 python -m pytest tests/lint/test_fixtures.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from sqlmig.config import Settings
from sqlmig.lint import lint_sql
from sqlmig.lint.registry import all_rules
from sqlmig.manifest import parse_manifest
from sqlmig.sql import split_statements

FIXTURES = Path(__file__).parent / "fixtures"
UPDATE = os.environ.get("SQLMIG_UPDATE_FIXTURES") == "1"
_DIRECTIVE = re.compile(r"^--\s*fixture:\s*(\w+)(?:\s+(.*))?$")


def directives(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = _DIRECTIVE.match(line.strip())
        if m:
            found[m.group(1)] = m.group(2) or ""
    return found


def lint_fixture(path: Path) -> list:
    text = path.read_text()
    d = directives(text)
    settings = Settings(target_pg_version=int(d.get("pg", "15")))
    manifest = None
    if "manifest" in d:
        data = {"description": "fixture", "phase": "expand", **yaml.safe_load(d["manifest"])}
        manifest = parse_manifest(yaml.safe_dump(data).encode(), f"{path.parent.name}.yaml")
    history = ""
    if "linted" in d:  # -- fixture: linted below
        lines = text.splitlines(keepends=True)
        cut = next(i for i, line in enumerate(lines) if "fixture: linted below" in line)
        history = "".join(lines[:cut])
        text = "\n" * cut + "".join(lines[cut:])  # the same line numbers as the file
    enable = tuple(d["enable"].split()) if "enable" in d else ()
    return lint_sql(
        text,
        path.name,
        settings=settings,
        manifest=manifest,
        history=history,
        forward=d.get("rollback"),
        verbose="verbose" in d,
        enable=enable,
    )


def rendered(findings: list, rule_id: str) -> list[str]:
    return [f"{f.line}:{f.column} {f.severity} {f.message}" for f in findings if f.rule == rule_id]


RULE_IDS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_fixtures(rule_id: str) -> None:
    bad, good = FIXTURES / rule_id / "bad.sql", FIXTURES / rule_id / "good.sql"
    expected_file = FIXTURES / rule_id / "bad.expected"
    got_bad = rendered(lint_fixture(bad), rule_id)
    if UPDATE:
        expected_file.write_text("\n".join(got_bad) + "\n")
    expected = [line for line in expected_file.read_text().splitlines() if line.strip()]
    assert got_bad == expected, f"{rule_id}: bad.sql findings differ from bad.expected"
    assert got_bad, f"{rule_id}: bad.sql must trigger the rule"
    assert rendered(lint_fixture(good), rule_id) == [], f"{rule_id}: good.sql (the safe pattern) must not trigger it"


ALL_FIXTURES = sorted(FIXTURES.glob("*/*.sql"))


@pytest.mark.parametrize("fixture", ALL_FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixtures_are_read_whole(fixture: Path) -> None:
    """Half of the parse-clean guard (the other half runs each fixture on PostgreSQL, test_fixtures_parse.py):
    sqlmig splits the fixture and recognises every statement in it."""
    from sqlmig import ddl

    text = fixture.read_text()
    for stmt in split_statements(text, str(fixture)):
        if "unparsable" not in directives(text):
            assert ddl.recognized(ddl.describe(stmt)), f"{fixture}:{stmt.line}: unrecognised {stmt.first_line}"


def test_every_rule_has_fixtures_and_docs() -> None:
    rules = all_rules()
    ids = [r.id for r in rules]
    names = [r.name for r in rules]
    assert len(set(ids)) == len(ids) and len(set(names)) == len(names)
    for r in rules:
        assert re.fullmatch(r"SM\d{3}", r.id), r.id
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", r.name), r.name
        assert r.summary and not r.summary.endswith("."), r.id
        for heading in ("## What it does", "## Why is this bad", "## Example", "## Use instead", "## Known problems"):
            assert heading in r.explanation, f"{r.id} explanation lacks {heading!r}"
        assert (FIXTURES / r.id / "bad.sql").is_file() and (FIXTURES / r.id / "good.sql").is_file(), r.id
        assert (FIXTURES / r.id / "bad.expected").is_file(), r.id
    assert set(RULE_IDS) == set(ids), "a fixture folder without a rule, or a rule without fixtures"
