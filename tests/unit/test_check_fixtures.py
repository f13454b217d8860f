"""Each disagreement `sqlmig check` knows, against a good and a bad project under tests/check/fixtures/<rule>/.

A bad project yields exactly the findings in its expected.txt (path:line:col: rule severity message,
word for word); a good project yields none. SQLMIG_UPDATE_GOLDEN=1 rewrites expected.txt from the
current output, so a wording change shows up as a diff to review.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sqlmig.check import run_check
from sqlmig.config import load_settings

FIXTURES = Path(__file__).resolve().parent.parent / "check" / "fixtures"
RULES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def lines_for(project: Path) -> list[str]:
    result = run_check(load_settings(project))
    return [f"{f.path}:{f.line}:{f.column}: check/{f.rule.removeprefix('check/')} {f.severity} {f.message}"
            for f in result.findings]  # fmt: skip


def test_every_rule_has_both_fixtures() -> None:
    assert len(RULES) >= 18
    for rule in RULES:
        assert (FIXTURES / rule / "good").is_dir() and (FIXTURES / rule / "bad" / "expected.txt").is_file(), rule


@pytest.mark.parametrize("rule", RULES)
def test_bad_fixture_gives_exactly_the_expected_findings(rule: str) -> None:
    bad = FIXTURES / rule / "bad"
    found = lines_for(bad)
    expected_file = bad / "expected.txt"
    if os.environ.get("SQLMIG_UPDATE_GOLDEN"):
        expected_file.write_text("\n".join(found) + "\n", encoding="utf-8")
    expected = expected_file.read_text("utf-8").splitlines()
    assert found == expected
    assert any(f" check/{rule} " in line for line in found), f"the bad fixture of {rule} does not trigger it"


@pytest.mark.parametrize("rule", RULES)
def test_good_fixture_is_clean(rule: str) -> None:
    assert lines_for(FIXTURES / rule / "good") == []


@pytest.mark.parametrize("rule", RULES)
def test_fixture_sql_splits_cleanly(rule: str) -> None:
    """As squawk's test_utils: a fixture must be the SQL it claims (except where splitting is the point)."""
    from sqlmig.sql import split_statements

    for kind in ("good", "bad"):
        if rule == "sql-file" and kind == "bad":
            continue
        for path in (FIXTURES / rule / kind).glob("*/*.sql"):
            split_statements(path.read_text("utf-8"), str(path))
