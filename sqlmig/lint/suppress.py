"""Suppression comments: `-- sqlmig:disable SM050 reason…` above a statement, `-- sqlmig:disable-file SM050 reason…`.

A reason is required, and a suppression must name known rules: squawk's trailing-text bug
(#974) silenced every rule, which is exactly what a suppression must never do. Bad and
unused suppressions are findings of rule SM506.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field

from sqlmig.lint.registry import find_rule

_DIRECTIVE = re.compile(r"^--\s*sqlmig:(disable-file|disable)\b(.*)$", re.I)


@dataclass
class Suppression:
    line: int
    file_wide: bool
    rules: tuple[str, ...]  # rule ids
    reason: str
    statement: int | None = None  # index of the statement it covers (None: file-wide)
    used: set[str] = field(default_factory=set)
    problem: str | None = None  # why it is not honoured


def parse(text: str, statement_lines: list[tuple[int, int]]) -> list[Suppression]:
    """Every suppression comment in a file. `statement_lines` are (first line, index) of each statement;
    a `disable` comment covers the next statement below it, when only comments separate them."""
    out: list[Suppression] = []
    lines = text.splitlines()
    starts = [line for line, _ in statement_lines]
    for n, raw in enumerate(lines, 1):
        m = _DIRECTIVE.match(raw.strip())
        if not m:
            continue
        file_wide = m.group(1).lower() == "disable-file"
        rules, reason, problem = _rules_and_reason(m.group(2))
        target = None
        if not file_wide:
            k = bisect_left(starts, n)
            target = statement_lines[k][1] if k < len(statement_lines) else None
            between = lines[n : (statement_lines[target][0] - 1) if target is not None else n]
            if target is None or any(s.strip() and not s.strip().startswith("--") for s in between):
                problem = problem or "covers no statement: put it on the line right above the statement"
        out.append(Suppression(n, file_wide, rules, reason, target, problem=problem))
    return out


def _rules_and_reason(rest: str) -> tuple[tuple[str, ...], str, str | None]:
    """Leading rule ids or names (comma- or space-separated), then the reason."""
    ids: list[str] = []
    unknown: list[str] = []
    reason_at = 0
    for m in re.finditer(r"[^\s,]+", rest):
        r = find_rule(m.group())
        if r is not None:
            ids.append(r.id)
        elif re.fullmatch(r"SM\d{3}", m.group(), re.I):
            unknown.append(m.group())
        else:
            break
        reason_at = m.end()
    reason = rest[reason_at:].strip(" ,-—:\t")
    if unknown:
        return tuple(ids), reason, f"names unknown rule{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
    if not ids:
        return (), reason, "names no rule: write the rule id, e.g. -- sqlmig:disable SM050 <reason>"
    if not reason:
        return tuple(ids), reason, "has no reason: say why, e.g. -- sqlmig:disable SM050 table has 10 rows"
    return tuple(ids), reason, None


def index(suppressions: list[Suppression]) -> dict[tuple[str, int | None], Suppression]:
    """The honoured suppressions by (rule id, statement index; None for file-wide), the first of each kept."""
    out: dict[tuple[str, int | None], Suppression] = {}
    for s in suppressions:
        if not s.problem:
            for rule_id in s.rules:
                out.setdefault((rule_id, None if s.file_wide else s.statement), s)
    return out


def covers(
    indexed: dict[tuple[str, int | None], Suppression], rule_id: str, statement: int | None
) -> Suppression | None:
    """The honoured suppression that silences `rule_id` at this statement, if any (the first in the file)."""
    found = [s for s in (indexed.get((rule_id, None)), indexed.get((rule_id, statement))) if s is not None]
    return min(found, key=lambda s: s.line) if found else None
