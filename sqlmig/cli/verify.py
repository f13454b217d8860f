"""Commands that prove migrations on a real database: `verify` (round trips on a scratch database) and `drift`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from sqlmig.cli.base import DatabaseUrl, LockWait, ProjectDir, app, err, out, out_json, run, settings_for


class ReportFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


ReportFormatOpt = Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format.")]

_STATUS = {"ok": "ok", "warning": "warning", "not_reversible": "not reversible", "schema_differs": "DIFFERS",
           "failed": "FAILED", "applied": "applied"}  # fmt: skip


def _check_lines(check) -> list[str]:
    """One migration's verify result as text: a status line, then what was found, indented."""
    head = f"  {_STATUS[check.status]:<15} {check.stem}  ({check.duration_ms} ms)"
    lines = [head]
    if check.status == "not_reversible":
        lines[0] = f"  {_STATUS[check.status]:<15} {check.stem}: a point of no return by design ({check.reason})"
    if check.rollback_changes:
        lines.append("      after rollback, the schema differs from before the migration:")
        lines += [f"        {c.render()}".replace("\n", "\n        ") for c in check.rollback_changes]
    if check.reapply_changes:
        lines.append("      applied again after its rollback, the schema differs from the first apply:")
        lines += [f"        {c.render()}".replace("\n", "\n        ") for c in check.reapply_changes]
    lines += [f"      data: {w}" for w in check.data_warnings]
    if check.error is not None:
        lines.append(f"      {check.failed_step} failed:")
        lines += [f"      {line}" for line in check.error.render().splitlines()]
    return lines


@app.command()
def verify(
    scratch_url: Annotated[
        str | None,
        typer.Option(
            "--scratch-url",
            help="A server where sqlmig may create and drop a scratch database (default: the embedded PostgreSQL).",
            show_default=False,
        ),
    ] = None,
    from_version: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Round-trip only this version and later ones; apply the ones before once.",
            show_default=False,
        ),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="Round-trip only the migrations that are not on this git ref (e.g. origin/main).",
            show_default=False,
        ),
    ] = None,
    project: ProjectDir = Path("."),
    fmt: ReportFormatOpt = ReportFormat.text,
) -> None:
    """Apply, roll back and re-apply every migration on a scratch database; compare schema fingerprints.

    Exit 0 when every migration round-trips, 1 when one fails to apply or roll back, 3 when a
    rollback leaves a different schema.
    """

    def body() -> int:
        from sqlmig.errors import UsageError
        from sqlmig.project import load_project
        from sqlmig.verify import verify_project

        if from_version is not None and base is not None:
            raise UsageError("give --from or --base, not both")
        settings = settings_for(project, None)
        proj = load_project(settings)
        chosen = None
        if from_version is not None:
            if not from_version.isdigit():
                raise UsageError(f"--from expects a version (digits), got {from_version!r}")
            chosen = {m.version for m in proj.migrations if m.number >= int(from_version)}
        elif base is not None:
            from sqlmig.gitbase import read_base

            tree = read_base(project, base)
            chosen = {m.version for m in proj.migrations if f"migrations/{m.stem}.sql" not in tree.blobs}
            err(f"verify: {len(chosen)} migration(s) not on {base}; the others are applied once")
        text = fmt.value == "text"
        if text:
            err("verify: round-tripping migrations on a scratch database")
        show = (lambda c: [out(line) for line in _check_lines(c)]) if text else None
        result = verify_project(proj, settings, scratch_url=scratch_url, round_trip=chosen, on_check=show)
        if fmt.value == "json":
            out_json(result.to_dict())
        elif fmt.value == "github":
            from sqlmig.findings import format_github

            out(format_github(result.findings()))
        else:
            out(f"verify: {result.summary()} (on {result.database}, PostgreSQL {result.server_version // 10000})")
        return result.exit_code

    run(fmt.value, body)


@app.command()
def drift(
    accept: Annotated[
        bool, typer.Option("--accept", help="After review: record the live schema as the new baseline.")
    ] = False,
    database_url: DatabaseUrl = None,
    project: ProjectDir = Path("."),
    lock_wait: LockWait = None,
    fmt: ReportFormatOpt = ReportFormat.text,
) -> None:
    """List schema objects changed outside sqlmig since the last apply or rollback. Exit 3 when there are any."""

    def body() -> int:
        from sqlmig.drift import check_database
        from sqlmig.errors import EXIT_DRIFT, UsageError
        from sqlmig.findings import Finding, format_github

        settings = settings_for(project, database_url, lock_wait=lock_wait)
        result = check_database(settings, accept=accept)
        err(f"using {result.database}")
        report = result.report
        if report is None and not accept:
            raise UsageError("no schema snapshot recorded yet: nothing to compare the live schema with",
                             hint="`sqlmig apply` records one after it runs; to take the schema as it is now, "
                             "run `sqlmig drift --accept`")  # fmt: skip
        changes = report.changes if report else []
        invalid = report.invalid if report else []
        if fmt.value == "json":
            out_json({**(report.to_dict() if report else {"drift": False}), "accepted": result.accepted})
        elif fmt.value == "github":  # a live object has no file: annotations without file= (GitHub accepts them)
            found = [Finding(f"drift/{c.kind.replace(' ', '-')}", c.severity, "", 0, c.render(),
                             "changed outside sqlmig") for c in changes]  # fmt: skip
            found += [Finding("drift/invalid-index", "warning", "", 0, i.describe()) for i in invalid]
            out(format_github(found))
        else:
            if report is not None:
                out(f"drift: comparing with the schema {report.baseline.describe()}")
                for c in changes:
                    out(f"  {c.render()}".replace("\n", "\n  "))
                for note in report.notes():
                    out(f"note: {note}")
                n = len(changes)
                out(f"drift: {n} object{'s' if n != 1 else ''} changed outside sqlmig" if n
                    else "drift: none; the schema is as sqlmig left it")  # fmt: skip
                for index in invalid:  # not drift (a failed build left it), but worth a look
                    out(f"warning: {index.describe()}")
            if result.accepted:
                out(f"drift: recorded the live schema as the new baseline ({result.accepted[:12]})")
        return EXIT_DRIFT if changes and not accept else 0

    run(fmt.value, body)
