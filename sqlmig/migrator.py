"""One object owns a command's work: the project, the connection, the lock and the history.

Order for every state-changing command: load and validate all files, connect, take
the lock, ensure the history table, read history, check drift, plan, check each
planned file's statements, and only then run. Anything wrong is found before the first
statement reaches the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlmig import planner as planning
from sqlmig.config import Settings
from sqlmig.db import Target, connect, resolve_target, server_error
from sqlmig.drift import SchemaWatch
from sqlmig.errors import ConnectionFailed, MigrationFailed, ProjectError, RefusedError, SqlmigError
from sqlmig.events import LockAcquired, LockWaiting, Note, Sink, discard
from sqlmig.history import Applied, History
from sqlmig.project import Project, check_statements, load_project_deferred
from sqlmig.runner import Runner, StepResult, check_resume


@dataclass(frozen=True)
class StatusRow:
    version: str
    name: str
    phase: str
    status: str  # applied, pending, failed, rolled_back, drifted, missing_file, running
    applied_at: Any
    duration_ms: int | None
    error: str | None = None
    statements_done: int | None = None
    statements: int | None = None
    point_of_no_return: bool = False
    progress: float | None = None  # percent done of a batched migration in progress

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "name": self.name,
            "phase": self.phase,
            "status": self.status,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "statements_done": self.statements_done,
            "statements": self.statements,
            "point_of_no_return": self.point_of_no_return,
            "progress": self.progress,
        }


Confirm = Callable[[list[str]], bool]


class ReadAhead(Protocol):
    """Another process filling the project's caches meanwhile (sqlmig.cli.prefetch)."""

    def manifests(self) -> None:
        """Return once the manifests are cached, or will not be."""

    def before_split(self, pending: int, total: int) -> None:
        """Return once the split of the forward files is cached, or will not be."""


class Migrator:
    """Owns one command against one database. Use as a context manager."""

    def __init__(self, settings: Settings, sink: Sink = discard, project: Project | None = None, *,
                 ahead: ReadAhead | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.emit = sink
        self.ahead = ahead
        self.deferred: ProjectError | None = None  # missing files: drift if those migrations were applied
        if project is None:
            if ahead is not None:
                ahead.manifests()
            project, self.deferred = load_project_deferred(settings)
        self.project = project
        self.target: Target | None = None
        self.conn: Any = None
        self.history: History | None = None

    # ---------------------------------------------------------------- connection
    def __enter__(self) -> Migrator:
        self.target = resolve_target(self.settings)
        self.conn = connect(self.target, self.settings)
        self.conn.prepare_threshold = None  # migration statements run once; never prepare them
        self.history = History(self.conn, self.settings.history_schema, self.settings.history_table)
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        broken = self.conn is not None and (self.conn.closed or self.conn.broken)
        if self.conn is not None:
            try:
                if self.history:
                    self.history.release_lock()
            except Exception:  # the connection may be gone; the server drops the lock with it
                pass
            self.conn.close()
        if exc is not None and type(exc).__module__.startswith("psycopg"):
            raise _database_error(exc, broken) from None

    def lock(self) -> None:
        assert self.history is not None
        t0 = time.monotonic()
        self.history.acquire_lock(self.settings.lock_wait, lambda holder: self.emit(LockWaiting(holder)))
        self.history.session_defaults()
        self.emit(LockAcquired(int((time.monotonic() - t0) * 1000)))

    def read_history(self) -> dict[str, Applied]:
        """History rows by version; raises the project's error when files are missing from a migration
        that was never applied (for an applied one, find_drift reports it)."""
        assert self.history is not None
        history = self.history.read()
        if self.deferred is not None:
            applied = {v for v, row in history.items() if row.status == "applied"}
            if not set(self.project.incomplete) <= applied:
                raise self.deferred
        return history

    # ---------------------------------------------------------------- commands
    def plan_apply(self, to: str | None = None, phase: str | None = None) -> planning.Plan:
        history = self.read_history()
        planning.raise_on_drift(planning.find_drift(self.project, history))
        plan = planning.plan_apply(self.project, history, to=to, phase=phase)
        if self.ahead is not None:
            self.ahead.before_split(len(plan.steps), len(self.project.migrations))
        try:
            for step in plan.steps:
                assert step.migration is not None
                check_resume(step, check_statements(step.migration))
                if step.migration.rollback is not None:  # history keeps its SQL: readable, or refused now
                    step.migration.rollback.check_text()
                from sqlmig.batch import validate

                validate(step.migration)  # batched: every statement can be bounded to a key range
        finally:
            self.project.save_caches()  # what was split so far, even when a file is refused
        return plan

    def plan_rollback(self, steps: int | None = None, to: str | None = None) -> planning.Plan:
        history = self.read_history()
        planning.raise_on_drift(planning.find_drift(self.project, history), allow_missing=True)
        plan = planning.plan_rollback(self.project, history, steps=steps, to=to)
        runner = Runner(self.conn, self.history, self.settings, self.emit)  # type: ignore[arg-type]
        from sqlmig.batch import check_restore

        for step in plan.steps:
            runner.rollback_statements(step)  # validates the rollback SQL before anything runs
            check_restore(self.conn, self.settings, step)  # captured rows to restore are still there
        self.project.save_caches()
        return plan

    def check_sum(self) -> None:
        """migrations.sum, when there is one, against the files: exit 3 (before the lock) when they differ.
        An edited applied migration is said first: "run `sqlmig hash`" is the advice for new files only."""
        from sqlmig import integrity

        if integrity.verify(self.settings.project_dir):
            planning.raise_on_drift(planning.find_drift(self.project, self.read_history()), sum_too=True)
            integrity.raise_on_mismatch(self.settings.project_dir)

    def apply(
        self,
        to: str | None = None,
        phase: str | None = None,
        *,
        yes: bool = False,
        confirm: Confirm | None = None,
        dry_run: bool = False,
        strict: bool = False,
        no_backup: bool = False,
    ) -> tuple[planning.Plan, list[StepResult]]:
        """Apply pending migrations under the lock. Returns the plan and what ran.

        Schema drift found before the run is a warning, or with `strict` a DriftError;
        `no_backup` skips the pg_dump a `backup: required` point of no return asks for.
        """
        assert self.history is not None
        self.check_sum()
        if dry_run:
            return self.plan_apply(to, phase), []
        self.lock()
        plan = self.plan_apply(to, phase)  # every file checked before the database changes at all
        for note in plan.notes:
            self.emit(Note("warning", note))
        watch = SchemaWatch(self.conn, self.history, self.settings, self.emit)
        if plan.steps or strict:  # a no-op apply stays fast; `sqlmig drift` checks on demand
            watch.check(strict)
        ponr = [
            f"{s.version}_{s.name}: {s.migration.manifest.point_of_no_return.reason}"  # type: ignore[union-attr]
            for s in plan.steps
            if s.migration and s.migration.point_of_no_return
        ]
        if ponr and not yes and not (confirm and confirm(ponr)):
            raise RefusedError(
                "the plan includes a point of no return; nothing was applied",
                details=ponr,
                hint="review it and rerun with --yes (or apply up to the migration before it with --to)",
            )
        from sqlmig.backup import BackupHook

        self.history.ensure()
        return plan, self._run(plan, "apply", watch, BackupHook(self, skip=no_backup))

    def _run(self, plan: planning.Plan, command: str, watch: SchemaWatch, backups: Any = None) -> list[StepResult]:
        """Run the plan; then, even after a failure, record the schema it left and the backups it took."""
        runner = Runner(self.conn, self.history, self.settings, self.emit, before_step=backups)
        results: list[StepResult] = []
        try:
            results = runner.run(plan)
        finally:
            if plan.steps:
                failed = len(results) < len(plan.steps)
                watch.record(command, results[-1].version if results else None, quiet=failed)
                if backups is not None:
                    backups.record(self.history, quiet=failed)
        return results

    def rollback(
        self,
        steps: int | None = None,
        to: str | None = None,
        *,
        yes: bool = False,
        confirm: Confirm | None = None,
        dry_run: bool = False,
    ) -> tuple[planning.Plan, list[StepResult]]:
        assert self.history is not None
        if dry_run:
            return self.plan_rollback(steps, to), []
        self.lock()
        plan = self.plan_rollback(steps, to)
        if plan.steps and not yes:
            what = [f"{s.version}_{s.name}" for s in plan.steps]
            if not (confirm and confirm(what)):
                raise RefusedError(
                    "rollback needs confirmation; nothing was rolled back",
                    details=[f"would roll back: {', '.join(what)}"],
                    hint="rerun with --yes",
                )
        self.history.ensure()
        watch = SchemaWatch(self.conn, self.history, self.settings, self.emit)
        watch.check(strict=False)
        return plan, self._run(plan, "rollback", watch)

    def status(self) -> list[StatusRow]:
        history = self.read_history()
        drift = {d.version: d for d in planning.find_drift(self.project, history)}
        from sqlmig.batch import progress

        batched = progress(self.conn, self.settings, self.project)
        rows: list[StatusRow] = []
        for m in self.project.migrations:
            h = history.get(m.version)
            status = "pending" if h is None else h.status
            if m.version in drift:
                status = "drifted"
            rows.append(
                StatusRow(
                    m.version,
                    m.name,
                    m.manifest.phase,
                    status,
                    h.finished_at if h and h.status == "applied" else (h.started_at if h else None),
                    h.duration_ms if h else None,
                    h.error if h else None,
                    h.statements_done if h else None,
                    None,
                    m.point_of_no_return,
                    batched.get(m.version) if h and h.status in ("running", "failed") else None,
                )
            )
        known = self.project.by_version()
        for version, h in history.items():
            if version not in known and h.status != "rolled_back":
                rows.append(
                    StatusRow(
                        version,
                        h.name,
                        h.phase,
                        "missing_file",
                        h.finished_at,
                        h.duration_ms,
                        h.error,
                        h.statements_done,
                    )
                )
        return sorted(rows, key=lambda r: int(r.version))

    def finalize(self, version: str) -> list[str]:
        """Drop a batched migration's captured rows and checkpoints under the lock; one line per change."""
        from sqlmig.batch import finalize as drop_captured

        assert self.history is not None
        self.lock()
        self.history.ensure()
        return drop_captured(self.conn, self.history, self.settings, self.project, version)

    def repair(self) -> list[str]:
        """Record current checksums for drifted rows, clear failed rows, forget rows whose files are gone.

        Returns one line per change made.
        """
        assert self.history is not None
        self.lock()
        self.history.ensure()
        history = self.read_history()
        changes: list[str] = []
        by_version = self.project.by_version()
        with self.conn.transaction():
            for d in planning.find_drift(self.project, history):
                if d.version in self.project.incomplete:
                    gone = ", ".join(self.project.incomplete[d.version])
                    changes.append(f"{d.version}_{d.name}: not repaired: restore {gone} "
                                   "(repair records the checksums of files that exist)")  # fmt: skip
                elif d.what == "changed":
                    m = by_version[d.version]
                    new_rollback = m.rollback is not None and any(f.startswith("rollback/") for f in d.files)
                    self.history.update_checksums(d.version, m.checksums, m.rollback.text if new_rollback else None)
                    kept = "; the rollback SQL kept for `sqlmig rollback` is now the file's" if new_rollback else ""
                    changes.append(f"{d.version}_{d.name}: recorded new checksums for {', '.join(d.files)}{kept}")
                else:
                    self.history.delete(d.version)
                    changes.append(f"{d.version}_{d.name}: files are gone; removed its history row")
            for version, h in sorted(history.items()):
                if h.status in ("failed", "running"):
                    self.history.delete(version)
                    done = f" ({h.statements_done} statement(s) had run)" if h.statements_done else ""
                    changes.append(f"{version}_{h.name}: cleared the failed run{done}; apply starts it afresh")
        return changes


def _database_error(exc: BaseException, broken: bool) -> SqlmigError:
    """A server error outside a migration's statements (the history table, the lock, a lost
    connection) as a SqlmigError: the server's words and what to check, never a traceback."""
    server = server_error(exc)  # type: ignore[arg-type]
    if broken:
        return ConnectionFailed("the connection to the database was lost", server=server,
                                hint="check the server; `sqlmig status` shows what was applied")  # fmt: skip
    hint = "check that the database user may use the history schema and table (history_schema, history_table)"
    if server.sqlstate == "42501":
        hint = ("the database user lacks a privilege sqlmig needs: CREATE on the history schema (or the table "
                "created beforehand by an owner) and INSERT/UPDATE on it")  # fmt: skip
    return MigrationFailed("the database refused sqlmig's own bookkeeping", server=server, hint=hint)
