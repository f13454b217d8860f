"""Pure planning: (project, history, target) -> Plan. No I/O.

History is a set of applied versions, not a high-water mark: with --phase, a later
phase may be applied before an earlier pending one, and a pending migration older than
the newest applied one is still pending (shown with a note).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmig.errors import DriftError, RefusedError, UsageError
from sqlmig.history import Applied
from sqlmig.project import Migration, Project

PHASES = ("expand", "migrate", "contract")


@dataclass(frozen=True)
class Step:
    migration: Migration | None  # None: rolling back a migration whose files are gone (history SQL)
    direction: str  # "up" or "down"
    applied: Applied | None = None
    resume_from: int = 0  # statements already done by an earlier failed `transaction: none` run

    @property
    def version(self) -> str:
        return self.migration.version if self.migration else self.applied.version  # type: ignore[union-attr]

    @property
    def name(self) -> str:
        return self.migration.name if self.migration else self.applied.name  # type: ignore[union-attr]


@dataclass(frozen=True)
class Plan:
    direction: str
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Drift:
    """A difference between the files and what history recorded for an applied migration."""

    version: str
    name: str
    what: str  # "changed" or "missing"
    files: tuple[str, ...]

    def render(self) -> str:
        return f"{self.version}_{self.name}: {self.what}: {', '.join(self.files)}"


def find_drift(project: Project, history: dict[str, Applied]) -> list[Drift]:
    """Applied (or partly applied) migrations whose files changed or vanished since they ran."""
    out: list[Drift] = []
    by_version = project.by_version()
    for version, row in sorted(history.items(), key=lambda kv: int(kv[0])):
        if row.status == "rolled_back":
            continue
        m = by_version.get(version)
        if m is None:
            if row.status != "applied":
                continue  # a failed run of a migration that was since removed: nothing to protect
            if version in project.incomplete:  # some of its files are still there: not an older checkout
                out.append(Drift(version, row.name, "changed",
                                 tuple(f"{p} (removed)" for p in project.incomplete[version])))  # fmt: skip
                continue
            out.append(Drift(version, row.name, "missing",
                             (f"migrations/{version}_{row.name}.sql",)))  # fmt: skip
            continue
        if row.status == "failed" or row.status == "running":
            continue  # checked against done_checksum when resumed
        sums = m.checksums
        changed = []
        if sums["up"] != row.checksum:
            changed.append(m.up.display)
        if sums["rollback"] != row.rollback_checksum:
            changed.append(m.rollback.display if m.rollback else f"rollback/{m.stem}.sql (removed)")
        if sums["manifest"] != row.manifest_checksum:
            changed.append(m.manifest_display)
        if changed:
            out.append(Drift(version, m.name, "changed", tuple(changed)))
    return out


def raise_on_drift(drift: list[Drift], *, allow_missing: bool = False, sum_too: bool = False) -> None:
    """DriftError (exit 3) naming every applied migration whose files changed or vanished.

    `sum_too`: migrations.sum disagrees with the files as well; the hint then says that
    re-hashing alone would not do (databases that ran the migration never get an edit).
    """
    relevant = [d for d in drift if not (allow_missing and d.what == "missing")]
    if relevant:
        one = len(relevant) == 1
        hint = ("restore the files as they were applied (git log -p), or after review run "
                "`sqlmig repair` to record the current files")  # fmt: skip
        if sum_too:
            hint = ("an applied migration was edited: restore it as it was applied (git log -p) and make the change "
                    "in a new migration (`sqlmig new`); re-hashing would not change databases that already ran "
                    "it. Only after review: `sqlmig repair` (records the current files) and `sqlmig hash`")  # fmt: skip
        raise DriftError(
            f"{len(relevant)} applied migration{'' if one else 's'} differ{'s' if one else ''} from "
            f"{'its' if one else 'their'} files",
            details=[d.render() for d in relevant],
            hint=hint,
        )


def check_options(*, to: str | None = None, phase: str | None = None, steps: int | None = None) -> None:
    """Refuse a malformed --to, --phase or --steps (UsageError): the CLI calls this before it connects
    or starts the embedded server, and planning calls it again for library callers."""
    if phase is not None and phase not in PHASES:
        raise UsageError(f"--phase must be one of {', '.join(PHASES)}, got {phase!r}")
    if to is not None and not to.isdigit():
        raise UsageError(f"--to expects a version (digits), got {to!r}")
    if steps is not None and to is not None:
        raise UsageError("give --steps or --to, not both")
    if steps is not None and steps < 1:
        raise UsageError(f"--steps must be 1 or more, got {steps}")


def _target_number(project: Project, history: dict[str, Applied], to: str | None) -> int | None:
    if to is None:
        return None
    if project.find(to) is None and to not in history and not any(int(v) == int(to) for v in history):
        raise UsageError(f"--to {to}: no migration has that version", hint="see `sqlmig status`")
    return int(to)


def plan_apply(project: Project, history: dict[str, Applied], *, to: str | None = None,
               phase: str | None = None) -> Plan:  # fmt: skip
    """Pending migrations in version order, optionally up to a version and/or of one phase."""
    check_options(to=to, phase=phase)
    limit = _target_number(project, history, to)
    applied_numbers = [int(v) for v, r in history.items() if r.status == "applied"]
    newest = max(applied_numbers, default=-1)
    steps, notes = [], []
    for m in project.migrations:
        row = history.get(m.version)
        if row is not None and row.status == "applied":
            continue
        if limit is not None and m.number > limit:
            continue
        if phase is not None and m.manifest.phase != phase:
            continue
        resume = row.statements_done if (row and row.status in ("failed", "running")
                                          and row.transaction_mode == "none") else 0  # fmt: skip
        if m.number < newest:
            notes.append(f"{m.stem} is older than the newest applied migration; applying it out of order")
        steps.append(Step(m, "up", row, resume))
    return Plan("up", tuple(steps), tuple(notes))


def plan_rollback(project: Project, history: dict[str, Applied], *, steps: int | None = None,
                  to: str | None = None) -> Plan:  # fmt: skip
    """Applied migrations newest first: the last `steps` (default 1), or all above version `to`.

    Refuses (RefusedError) when a point-of-no-return migration stands in the way.
    """
    check_options(to=to, steps=steps)
    applied = sorted((r for r in history.values() if r.status == "applied"), key=lambda r: int(r.version), reverse=True)
    limit = _target_number(project, history, to)
    if limit is not None:
        chosen = [r for r in applied if int(r.version) > limit]
    else:
        chosen = applied[: steps or 1]
    by_version = project.by_version()
    out = []
    for row in chosen:
        m = by_version.get(row.version)
        ponr = m.manifest.point_of_no_return.reason if (m and m.point_of_no_return) else row.point_of_no_return
        if ponr:
            raise RefusedError(
                f"cannot roll back past {row.version}_{row.name}: it is a point of no return",
                details=[f"reason: {ponr}"],
                hint=f"roll back only the migrations after it (--to {row.version})"
                if chosen[0] is not row
                else "it cannot be undone by sqlmig; restore from a backup",
            )
        if m is None and not row.rollback_sql:
            raise RefusedError(f"cannot roll back {row.version}_{row.name}: its files are gone and "
                               "history holds no rollback SQL")  # fmt: skip
        out.append(Step(m, "down", row))
    notes = ()
    if not out:
        notes = ("nothing to roll back",)
    return Plan("down", tuple(out), notes)
