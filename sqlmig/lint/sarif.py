"""SARIF 2.1.0 output, for GitHub code scanning (`github/codeql-action/upload-sarif`) and other SARIF readers.

One run; the driver lists every rule that has a finding, with its summary and its `--explain`
text as help; each result points at a file relative to the repository root (uriBaseId
%SRCROOT%), with 1-based line and column. Severities map to SARIF levels: error, warning, note.
The run's invocation says whether lint could do its job: `executionSuccessful` is false for invalid
input (exit 2), with the reason in `toolExecutionNotifications`, and a run that could not start
(a missing path, a bad configuration) still writes a valid document, so an upload step never
receives an empty file.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlmig import __version__
from sqlmig.findings import Finding, sort_findings

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _uri(path: str) -> dict:
    p = Path(path)
    if p.is_absolute():
        return {"uri": p.as_uri()}
    return {"uri": p.as_posix(), "uriBaseId": "%SRCROOT%"}


def _descriptor(rule_id: str) -> dict:
    from sqlmig.lint.registry import RULES, all_rules

    all_rules()
    r = RULES.get(rule_id)
    if r is None:  # lint/syntax, lint/manifest: findings about the input itself
        return {"id": rule_id, "shortDescription": {"text": rule_id}}
    return {
        "id": r.id,
        "name": r.name,
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": r.explanation.split("\n\n")[0].removeprefix("## What it does").strip()},
        "help": {"text": r.explanation, "markdown": r.explanation},
        "defaultConfiguration": {"level": _LEVEL[r.severity], "enabled": r.default},
        "properties": {"tags": [r.family], "precision": "high"},
    }


def to_sarif(findings: list[Finding], *, exit_code: int = 0, failures: tuple[str, ...] = ()) -> dict:
    """The SARIF document. `exit_code`: the command's; `failures`: why lint could not run or read its input."""
    ordered = sort_findings(findings)
    ids = sorted({f.rule for f in ordered})
    index = {rule_id: i for i, rule_id in enumerate(ids)}
    results = []
    for f in ordered:
        text = f.message + (f"\nhint: {f.hint}" if f.hint else "")
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": _LEVEL.get(f.severity, "note"),
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": _uri(f.path),
                            "region": {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)},
                        }
                    }
                ],
            }
        )
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "sqlmig",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": "https://pypi.org/project/sqlmig/",
                        "rules": [_descriptor(i) for i in ids],
                    }
                },
                "invocations": [_invocation(exit_code, failures or _unreadable(ordered))],
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def _unreadable(findings: list[Finding]) -> tuple[str, ...]:
    """The files lint could not read (findings lint/syntax), as notifications of the invocation."""
    return tuple(f"{f.path}:{f.line}: {f.message}" for f in findings if f.rule == "lint/syntax")


def _invocation(exit_code: int, failures: tuple[str, ...]) -> dict:
    from sqlmig.errors import EXIT_FAILED

    out: dict = {"executionSuccessful": exit_code in (0, EXIT_FAILED), "exitCode": exit_code}
    if failures:
        out["toolExecutionNotifications"] = [{"level": "error", "message": {"text": text}} for text in failures]
    return out


def format_sarif(findings: list[Finding], *, exit_code: int = 0, failures: tuple[str, ...] = ()) -> str:
    return json.dumps(to_sarif(findings, exit_code=exit_code, failures=failures), indent=2)


def format_sarif_failure(exc: Exception) -> str:
    """A SARIF document for a run that could not lint at all (a SqlmigError: missing path, bad configuration)."""
    text = exc.render() if hasattr(exc, "render") else str(exc)
    return format_sarif([], exit_code=int(getattr(exc, "exit_code", 2)), failures=(text.removeprefix("error: "),))
