"""The README's rules table is the registry: every rule, with its name, severity and summary."""

from __future__ import annotations

import re

from sqlmig.lint.registry import all_rules
from tests.conftest import REPO


def test_readme_rules_table_matches_the_registry() -> None:
    text = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| (SM\d{3}) \| ([a-z0-9-]+) \| (\w+)(?: \(opt-in\))? \| (.+) \|$", text, re.M)
    expected = [(r.id, r.name, r.severity, r.summary) for r in all_rules()]
    assert rows == expected
