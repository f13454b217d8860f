"""Rendering of events and plans: plain text for people (stderr), JSON lines for machines (stdout)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmig.cli.base import err, out_json

if TYPE_CHECKING:
    from sqlmig import events as ev


def sink_for(fmt: str) -> ev.Sink:
    """The event sink for an output format."""
    if fmt == "json":
        return lambda e: out_json(e.to_dict())
    from sqlmig.cli.batch import BatchDisplay

    return BatchDisplay(render_text)  # batch progress (a bar on a terminal); everything else as text


def render_text(e: ev.Event) -> None:
    from sqlmig import events as ev  # when an event comes: `sqlmig lint`, `check`, `--help` never import it

    if isinstance(e, ev.LockWaiting):
        err(f"waiting for the migration lock (held by {e.holder or 'another session'})")
    elif isinstance(e, ev.MigrationStarted):
        arrow = "applying" if e.direction == "up" else "rolling back"
        mode = "in one transaction" if e.transactional else "without a transaction"
        mode = "in batches, one transaction per key range" if e.batched else mode
        resume = f", resuming at statement {e.resume_from + 1}" if e.resume_from else ""
        what = f"{e.statements} statement{'s' if e.statements != 1 else ''}, {mode}{resume}"
        if e.restores_captured:  # sqlmig.batch puts captured rows back first, in slices of their own
            what = "restores the captured rows, in slices" + (f"; then {what}" if e.statements else "")
        err(f"{arrow} {e.version}_{e.name} ({what})")
    elif isinstance(e, ev.Retrying):
        what = f" at {e.where} ({e.statement})" if e.where else ""
        err(f"  lock timeout{what}: {e.reason}; retry {e.attempt}/{e.of} in {e.delay_s:g}s")
        for blocker in e.blockers:
            err(f"    blocked by {blocker}")
    elif isinstance(e, ev.MigrationDone):
        verb = "applied" if e.direction == "up" else "rolled back"
        err(f"  {verb} {e.version}_{e.name} in {e.duration_ms} ms")
    elif isinstance(e, ev.Note):
        err(f"{e.level}: {e.message}")
    elif hasattr(e, "render_text"):  # events from later modules (batches) render themselves
        line = e.render_text()
        if line:
            err(line)


def plan_to_dict(plan: Any, statements_of: Any) -> dict:
    steps = []
    for s in plan.steps:
        m = s.migration
        stmts, transactional = statements_of(s)
        steps.append({
            "version": s.version, "name": s.name, "direction": s.direction,
            "phase": m.manifest.phase if m else (s.applied.phase if s.applied else None),
            "transaction": "per-migration" if transactional else "none",
            "point_of_no_return": (m.manifest.point_of_no_return.reason
                                   if m and m.point_of_no_return else None),
            "resume_from": s.resume_from,
            "statements": [{"path": st.path, "line": st.line, "first_line": st.first_line,
                            "kind": st.kind} for st in stmts],
        })  # fmt: skip
        from sqlmig.cli.batch import batch_plan

        steps[-1].update(batch_plan(s))  # a batched step: the exact SQL per range; a restore of captured rows
    return {"direction": plan.direction, "steps": steps, "notes": list(plan.notes)}


def plan_text(data: dict) -> list[str]:
    if not data["steps"]:
        return ["nothing to do: the database is up to date" if data["direction"] == "up"
                else "nothing to roll back"]  # fmt: skip
    verb = "apply" if data["direction"] == "up" else "roll back"
    from sqlmig.liveplan import live_lines  # not at import time: `sqlmig --help` stays fast

    lines = [f"plan: {verb} {len(data['steps'])} migration{'s' if len(data['steps']) != 1 else ''}"]
    if data.get("live_warnings"):  # from the live database (sqlmig.liveplan): first, where they are seen
        lines += ["warnings from the live database:", *(f"  ! {w}" for w in data["live_warnings"])]
    warnings = []
    for s in data["steps"]:
        flags = [s["phase"] or "?", s["transaction"]]
        if s["point_of_no_return"]:
            flags.append("POINT OF NO RETURN")
            warnings.append(f"{s['version']}_{s['name']} is a point of no return: {s['point_of_no_return']}")
        if s["transaction"] == "none":
            warnings.append(f"{s['version']}_{s['name']} runs without a transaction: a failure leaves "
                            "the statements before it applied (a rerun resumes)")  # fmt: skip
        lines.append(f"  {s['version']}_{s['name']}  [{', '.join(flags)}]")
        for i, st in enumerate(s["statements"]):
            mark = "  (done)" if i < s["resume_from"] else ""
            lines.append(f"      {st['path']}:{st['line']}  {st['first_line'][:100]}{mark}")
            lines += live_lines(st)
        from sqlmig.cli.batch import batch_plan_lines

        lines += batch_plan_lines(s)
    for note in data["notes"]:
        warnings.append(note)
    if warnings:
        lines.append("warnings:")
        lines += [f"  ! {w}" for w in warnings]
    return lines


def print_changes(fmt: str, command: str, changes: list[str], summary: str, **extra: object) -> None:
    """The result of a command that changes sqlmig's bookkeeping (repair, finalize): one line per change."""
    from sqlmig.cli.base import out

    if fmt == "json":
        out_json({"event": "result", "command": command, **extra, "changes": changes})
        return
    for line in changes:
        out(line)
    out(summary)
