"""Deploy-time commands: plan, apply, rollback, status, repair, new."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sqlmig.cli.base import (
    DatabaseUrl,
    Format,
    FormatOpt,
    LockWait,
    ProjectDir,
    Yes,
    app,
    confirm_on_terminal,
    err,
    out,
    out_json,
    run,
    settings_for,
)
from sqlmig.cli.render import plan_text, plan_to_dict, print_changes, render_text, sink_for

To = Annotated[str | None, typer.Option("--to", help="Target version.", show_default=False)]
Phase = Annotated[
    str | None, typer.Option("--phase", help="Only migrations of this phase: expand, migrate or contract.")
]


def _migrator(settings, fmt: str):
    from sqlmig.cli import gcpause, prefetch
    from sqlmig.events import MigrationStarted
    from sqlmig.migrator import Migrator

    sink = sink_for(fmt)

    def emit(event) -> None:
        if isinstance(event, MigrationStarted):
            gcpause.resume()  # the run begins: collect garbage again (see sqlmig.cli.gcpause)
        sink(event)

    return Migrator(settings, emit, ahead=prefetch.started)


def check_options(**options) -> None:
    """--to, --phase, --steps checked before connecting (or starting the embedded server)."""
    from sqlmig.planner import check_options as check

    check(**options)


def _announce(m) -> None:
    err(f"using {m.target.shown} ({m.target.source})")


def _statements_of(m):
    from sqlmig.project import check_statements
    from sqlmig.runner import Runner

    runner = Runner(m.conn, m.history, m.settings, m.emit)

    def statements_of(step):
        if step.direction == "up":
            return check_statements(step.migration), step.migration.manifest.transactional
        return runner.rollback_statements(step)

    return statements_of


def _show_plan(m, plan, fmt: str) -> None:
    from sqlmig.liveplan import annotate

    statements_of = _statements_of(m)
    data = plan_to_dict(plan, statements_of)
    annotate(m.conn, plan, statements_of, m.settings, data)  # locks, sizes and blockers on the live database
    if fmt == "json":
        out_json({"event": "plan", **data})
    else:
        for line in plan_text(data):
            out(line)


@app.command()
def plan(
    to: To = None,
    phase: Phase = None,
    rollback: Annotated[bool, typer.Option("--rollback", help="Plan a rollback instead of an apply.")] = False,
    steps: Annotated[int | None, typer.Option("--steps", help="With --rollback: how many to roll back.")] = None,
    database_url: DatabaseUrl = None,
    project: ProjectDir = Path("."),
    fmt: FormatOpt = Format.text,
) -> None:
    """Show what apply (or rollback) would run, in order. Changes nothing in the database."""

    def body() -> int:
        check_options(to=to, phase=None if rollback else phase, steps=steps if rollback else None)
        settings = settings_for(project, database_url)
        with _migrator(settings, fmt.value) as m:
            _announce(m)
            if not rollback:
                m.check_sum()  # what apply would refuse, plan refuses too
            p = m.plan_rollback(steps, to) if rollback else m.plan_apply(to, phase)
            _show_plan(m, p, fmt.value)
        return 0

    run(fmt, body)


@app.command()
def apply(
    to: To = None,
    phase: Phase = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")] = False,
    yes: Yes = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Refuse to run (exit 3) when the schema changed outside sqlmig (`sqlmig drift`)."
        ),
    ] = False,
    no_backup: Annotated[
        bool, typer.Option("--no-backup", help="Skip the pg_dump a `backup: required` point of no return asks for.")
    ] = False,
    database_url: DatabaseUrl = None,
    project: ProjectDir = Path("."),
    lock_wait: LockWait = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Apply pending migrations in version order, each all-or-nothing, under the migration lock."""

    def body() -> int:
        check_options(to=to, phase=phase)
        settings = settings_for(project, database_url, lock_wait=lock_wait)
        with _migrator(settings, fmt.value) as m:
            _announce(m)
            confirm = confirm_on_terminal("Apply these points of no return?")
            p, results = m.apply(
                to, phase, yes=yes, confirm=confirm, dry_run=dry_run, strict=strict, no_backup=no_backup
            )
            if dry_run:
                _show_plan(m, p, fmt.value)
                return 0
            total = sum(r.duration_ms for r in results)
            if fmt.value == "json":
                out_json({"event": "result", "command": "apply", "applied": [r.version for r in results],
                          "duration_ms": total})  # fmt: skip
            elif results:
                out(f"applied {len(results)} migration{'s' if len(results) != 1 else ''} in {total} ms")
            else:
                out("nothing to apply: the database is up to date")
        return 0

    run(fmt, body)


@app.command()
def rollback(
    steps: Annotated[int | None, typer.Option("--steps", help="How many migrations to roll back (default 1).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Roll back every migration after this version.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")] = False,
    yes: Yes = False,
    database_url: DatabaseUrl = None,
    project: ProjectDir = Path("."),
    lock_wait: LockWait = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Roll back applied migrations newest first; refuses to cross a point of no return."""

    def body() -> int:
        check_options(to=to, steps=steps)
        settings = settings_for(project, database_url, lock_wait=lock_wait)
        with _migrator(settings, fmt.value) as m:
            _announce(m)
            confirm = confirm_on_terminal("Roll back these migrations?")
            p, results = m.rollback(steps, to, yes=yes, confirm=confirm, dry_run=dry_run)
            if dry_run:
                _show_plan(m, p, fmt.value)
                return 0
            if fmt.value == "json":
                out_json({"event": "result", "command": "rollback", "rolled_back": [r.version for r in results]})
            elif results:
                out(f"rolled back {len(results)} migration{'s' if len(results) != 1 else ''}")
            else:
                out("nothing to roll back")
        return 0

    run(fmt, body)


@app.command()
def status(
    database_url: DatabaseUrl = None,
    project: ProjectDir = Path("."),
    fmt: FormatOpt = Format.text,
) -> None:
    """Every migration with its phase and status: applied, pending, failed, rolled_back, drifted, missing_file."""

    def body() -> int:
        settings = settings_for(project, database_url)
        with _migrator(settings, fmt.value) as m:
            _announce(m)
            rows = m.status()
        if fmt.value == "json":
            out_json([r.to_dict() for r in rows])
            return 0
        if not rows:
            out("no migrations")
            return 0
        width = max(len(f"{r.version}_{r.name}") for r in rows)
        out(f"{'MIGRATION':<{width}}  {'PHASE':<8}  {'STATUS':<12}  {'APPLIED AT':<19}  DURATION")
        for r in rows:
            when = r.applied_at.strftime("%Y-%m-%d %H:%M:%S") if r.applied_at else "-"
            dur = f"{r.duration_ms} ms" if r.duration_ms is not None else "-"
            out(f"{r.version + '_' + r.name:<{width}}  {r.phase:<8}  {r.status:<12}  {when:<19}  {dur}")
            if r.status == "failed" and r.error:
                done = f" after {r.statements_done} statement(s)" if r.statements_done else ""
                out(f"    failed{done}: {r.error}")
            if r.progress is not None:
                out(f"    batched: {r.progress:g}% of the key ranges done; `sqlmig apply` resumes it")
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        out(", ".join(f"{n} {s}" for s, n in counts.items()))
        return 0

    run(fmt, body)


@app.command()
def repair(
    database_url: DatabaseUrl = None,
    project: ProjectDir = Path("."),
    lock_wait: LockWait = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """After review: record current checksums of edited files, clear failed runs, forget missing files."""

    def body() -> int:
        settings = settings_for(project, database_url, lock_wait=lock_wait)
        with _migrator(settings, fmt.value) as m:
            _announce(m)
            changes = m.repair()
        n = len(changes)
        summary = f"repair: {n} change{'s' if n != 1 else ''}" if changes else "repair: nothing to repair"
        print_changes(fmt.value, "repair", changes, summary)
        return 0

    run(fmt, body)


@app.command()
def new(
    name: Annotated[
        str | None, typer.Argument(help="Short name: lower-case letters, digits and _, e.g. add_orders.")
    ] = None,
    phase: Annotated[str, typer.Option("--phase", help="expand, migrate or contract.")] = "expand",
    sequential: Annotated[
        bool,
        typer.Option(
            "--sequential",
            help="In a new project: number 00001, 00002… instead of YYYYMMDDHHMMSS "
            "timestamps (later ones follow the project's numbering; a timestamp project refuses it).",
        ),
    ] = False,
    renumber: Annotated[
        str | None,
        typer.Option(
            "--renumber",
            help="Instead: move migration VERSION (or STEM) to the next version, e.g. "
            "after `sqlmig check --base` reports it out of order.",
            metavar="VERSION",
            show_default=False,
        ),
    ] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Create the three files of a new migration from templates, update migrations.sum, print their paths."""

    def body() -> int:
        from sqlmig.errors import UsageError
        from sqlmig.scaffold import create_migration, renumber_migration

        settings = settings_for(project, None)
        if renumber is not None:
            if name is not None:
                raise UsageError("give a NAME or --renumber VERSION, not both")
            for old, moved in renumber_migration(settings, renumber, sequential=sequential, emit=render_text):
                out(f"{old.relative_to(settings.project_dir)} -> {moved.relative_to(settings.project_dir)}")
            return 0
        if name is None:
            raise UsageError("missing NAME", hint="sqlmig new add_orders (or sqlmig new --renumber VERSION)")
        for path in create_migration(settings, name, phase=phase, sequential=sequential, emit=render_text):
            out(str(path))
        return 0

    run("text", body)
