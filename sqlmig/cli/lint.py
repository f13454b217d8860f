"""`sqlmig lint`: lint migration SQL without a database; `--explain` and `--list-rules` document the rules."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sqlmig.cli.base import ProjectDir, app, out, run
from sqlmig.errors import EXIT_FAILED, EXIT_INVALID, SqlmigError, UsageError

if TYPE_CHECKING:
    from sqlmig.lint.files import LintReport


class LintFormat(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


@app.command()
def lint(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="SQL files or folders (default: the project's migrations/ and rollback/).", show_default=False
        ),
    ] = None,
    fmt: Annotated[LintFormat, typer.Option("--format", "-f", help="Output format.")] = LintFormat.text,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 1) on warnings too.")] = False,
    explain: Annotated[
        str | None, typer.Option("--explain", help="Explain a rule (SM050 or its name) and exit.", show_default=False)
    ] = None,
    list_rules: Annotated[bool, typer.Option("--list-rules", help="List every rule and exit.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show info findings, and which statements rules could not analyse.")
    ] = False,
    target_pg: Annotated[
        int | None,
        typer.Option(
            "--target-pg-version",
            help="PostgreSQL major version to lint for (default: target_pg_version in the configuration, else 15).",
            show_default=False,
        ),
    ] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Lint migration SQL for locks, rewrites, breaking changes and rollbacks that do not undo. No database needed.

    Exit 0 when there is no error (warnings pass unless --strict), 1 on errors, 2 on invalid input.
    """

    def body() -> int:
        if explain is not None:
            return _explain(explain)
        if list_rules:
            return _list_rules(fmt.value)
        from sqlmig.config import load_settings
        from sqlmig.lint.files import lint_paths

        try:
            settings = load_settings(project, target_pg_version=target_pg)
            report = lint_paths(list(paths or []), settings, verbose=verbose)
        except SqlmigError as exc:
            if fmt == LintFormat.sarif:  # a valid document even now: code-scanning uploads fail on an empty file
                from sqlmig.lint.sarif import format_sarif_failure

                out(format_sarif_failure(exc))
            raise
        failing = {"error", "warning"} if strict else {"error"}
        code = EXIT_FAILED if any(f.severity in failing for f in report.findings) else 0
        code = EXIT_INVALID if report.invalid else code
        _print(report, fmt.value, verbose, code)
        return code

    run("json" if fmt == LintFormat.json else "text", body)


def _print(report: LintReport, fmt: str, verbose: bool, code: int) -> None:
    from sqlmig import findings as fm

    shown = report.findings
    hidden = 0
    if fmt in ("text", "github") and not verbose:
        shown = [f for f in report.findings if f.severity != "info"]
        hidden = len(report.findings) - len(shown)
    if fmt == "json":
        out(fm.format_json(shown))
    elif fmt == "sarif":
        from sqlmig.lint.sarif import format_sarif

        out(format_sarif(shown, exit_code=code))
    elif fmt == "github":
        out(fm.format_github(shown))
    else:
        text = fm.format_text(shown)
        if hidden:
            text += f" ({hidden} info finding{'s' if hidden != 1 else ''} hidden; --verbose shows them)"
        out(text)


def _explain(key: str) -> int:
    from sqlmig.lint.registry import find_rule

    r = find_rule(key)
    if r is None:
        raise UsageError(f"no lint rule {key!r}", hint="`sqlmig lint --list-rules` lists every rule")
    state = "on by default" if r.default else 'off by default (enable = ["' + r.id + '"] in [lint])'
    out(f"{r.id} {r.name} ({r.severity}, {state})")
    out(r.summary)
    out("")
    out(r.explanation)
    return 0


def _list_rules(fmt: str) -> int:
    from sqlmig.lint.registry import all_rules

    rules = all_rules()
    if fmt == "json":
        import json

        out(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "name": r.name,
                        "severity": r.severity,
                        "default": r.default,
                        "family": r.family,
                        "summary": r.summary,
                    }
                    for r in rules
                ],
                indent=2,
            )
        )
        return 0
    width = max(len(r.name) for r in rules)
    for r in rules:
        flag = "" if r.default else "  (opt-in)"
        out(f"{r.id}  {r.name:<{width}}  {r.severity:<7}  {r.summary}{flag}")
    return 0
