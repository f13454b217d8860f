"""Finding: one thing lint, check or reversibility has to say, and the plain formats for a list of them.

Findings are values; whether they fail a command is the CLI's policy (by severity).
The formats here return strings; the CLI prints them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    rule: str  # SM### for lint rules; a short id such as "check/phase" for check findings
    severity: str  # error | warning | info
    path: str
    line: int
    message: str
    hint: str | None = None
    column: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.path, f.line, f.column, f.rule))


def summary(findings: list[Finding]) -> str:
    counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    files = len({f.path for f in findings if f.path})
    parts = [f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n]
    if not parts:
        return "no problems found"
    return f"{', '.join(parts)} in {files} file{'s' if files != 1 else ''}" if files else ", ".join(parts)


def format_text(findings: list[Finding]) -> str:
    """`path:line:col: RULE severity message` plus the hint, grouped per file, with a summary line."""
    lines: list[str] = []
    current = None
    for f in sort_findings(findings):
        if f.path != current:
            if current is not None:
                lines.append("")
            current = f.path
        lines.append(f"{f.path}:{f.line}:{f.column}: {f.rule} {f.severity} {f.message}")
        if f.hint:
            lines.append(f"    hint: {f.hint}")
    if lines:
        lines.append("")
    lines.append(summary(findings))
    return "\n".join(lines)


def format_json(findings: list[Finding]) -> str:
    return json.dumps(
        {"findings": [f.to_dict() for f in sort_findings(findings)], "summary": summary(findings)}, indent=2
    )


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(findings: list[Finding]) -> str:
    """GitHub Actions workflow commands, so findings land on the pull request's lines."""
    level = {"error": "error", "warning": "warning", "info": "notice"}
    out = []
    for f in sort_findings(findings):
        message = f"{f.rule}: {f.message}" + (f" (hint: {f.hint})" if f.hint else "")
        # A finding about no file (a live database object) is a workflow annotation without a location.
        where = f"file={_escape_property(f.path)},line={f.line},col={f.column}," if f.path else ""
        out.append(
            f"::{level.get(f.severity, 'notice')} {where}title={_escape_property(f.rule)}::{_escape_data(message)}"
        )
    out.append(summary(findings))
    return "\n".join(out)
