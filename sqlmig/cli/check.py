"""Pull-request commands: check, schema, hash."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from sqlmig.cli.base import ProjectDir, app, err, out, run, settings_for


class CheckFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


@app.command()
def check(
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="Git ref to compare with (e.g. origin/main): its migrations must be unchanged "
            "here, and new ones must come after its newest. Read through git, no checkout.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        CheckFormat, typer.Option("--format", "-f", help="text, json, or github (workflow annotations).")
    ] = CheckFormat.text,
    allow_out_of_order: Annotated[
        bool,
        typer.Option(
            "--allow-out-of-order",
            help="New versions older than the base's newest are a note, not an error (phase-based deploys).",
        ),
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail the check too (exit 2).")] = False,
    project: ProjectDir = Path("."),
) -> None:
    """Check every migration for a pull request: files, manifests, manifest-vs-SQL agreement, migrations.sum.

    Exit 0 clean (warnings alone do not fail without --strict), 3 on integrity problems
    (migrations.sum, a migration on the base edited, removed or renamed, a version taken on the base
    or out of order),
    2 on any other error.
    """

    def body() -> int:
        from sqlmig.check import run_check
        from sqlmig.findings import format_github, format_json, format_text

        settings = settings_for(project, None)
        result = run_check(settings, base=base, allow_out_of_order=allow_out_of_order)
        code = result.exit_code(strict)
        if fmt is CheckFormat.json:
            data = json.loads(format_json(result.findings))
            out(json.dumps({**data, "exit_code": code, "migrations": result.migrations,
                            "unreadable": result.unreadable, "base": result.base, "new": list(result.new)},
                           indent=2))  # fmt: skip
            return code
        if fmt is CheckFormat.github:
            out(format_github(_repo_relative(result.findings, settings.project_dir)))
        else:
            out(format_text(result.findings))
        against = f" against {result.base}" if result.base else ""
        added = f", {len(result.new)} new" if result.base else ""
        unread = f" ({result.unreadable} could not be read)" if result.unreadable else ""
        err(f"checked {result.migrations} migration{'s' if result.migrations != 1 else ''}{unread}{added}{against}")
        return code

    run("json" if fmt is CheckFormat.json else "text", body)


def _repo_relative(findings: list, project_dir: Path) -> list:
    """GitHub resolves annotation paths from the repository root; the project may sit in a subfolder."""
    from dataclasses import replace

    from sqlmig.gitbase import repo_prefix

    prefix = repo_prefix(project_dir) or ""
    return [replace(f, path=prefix + f.path) for f in findings] if prefix else findings


@app.command()
def schema() -> None:
    """Print the manifest JSON Schema (Draft 2020-12), for editors and other tools."""
    from sqlmig.manifest import schema as manifest_schema

    out(json.dumps(manifest_schema(), indent=2))


@app.command("hash")
def hash_(project: ProjectDir = Path(".")) -> None:
    """Write migrations.sum from the migration files as they are now (after review: it blesses them)."""

    def body() -> int:
        from sqlmig.integrity import SUM_FILE, write_sum

        settings = settings_for(project, None)
        if not settings.migrations_dir.is_dir():
            from sqlmig.errors import ProjectError

            raise ProjectError(f"no migrations/ folder in {settings.project_dir.resolve()}",
                               hint="run sqlmig from the project root, or pass --project DIR")  # fmt: skip
        n = write_sum(settings.project_dir)
        out(f"wrote {settings.project_dir / SUM_FILE}: {n} file{'s' if n != 1 else ''}")
        return 0

    run("text", body)
