"""Batched data migrations: key ranges, adaptive size, throttling, checkpoints, capture and restore.

A migration whose manifest has `batch:` runs each DML statement over ranges of a key of
one table, each range in its own transaction together with its checkpoint row. The
modules: `bounds` (how a statement is bounded to a range; pure), `keyset` (the table, its
key and the range lookups), `checkpoints`, `capture` (prior values, restore), `executor`
(the loop). This module holds the entry points the runner, planner, status and CLI call;
they import the heavy parts only when used.
"""

from __future__ import annotations

from typing import Any

from sqlmig.sql import DIRECTIVE_RESTORE, has_restore_directive

__all__ = [
    "DIRECTIVE_RESTORE",
    "after_rollback",
    "before_rollback",
    "check_restore",
    "describe",
    "finalize",
    "has_restore_directive",
    "progress",
    "rollback_text",
    "run_batched",
    "validate",
]  # fmt: skip


def run_batched(runner: Any, step: Any) -> Any:
    """Apply a batched migration (called by Runner.apply_step); returns the runner's StepResult."""
    from sqlmig.batch.executor import BatchRun

    return BatchRun(runner, step).run()


def validate(migration: Any) -> None:
    """Before anything runs: a batched migration's statements can be bounded; no other uses the placeholders.

    Raises ProjectError naming the statement otherwise.
    """
    from sqlmig.batch.bounds import bound_statements, refuse_stray_placeholders
    from sqlmig.project import check_statements

    batch = migration.manifest.batch
    if batch is None:
        refuse_stray_placeholders(check_statements(migration), migration.manifest_display)
        return
    bound_statements(check_statements(migration), batch, batch.key)


def describe(migration: Any) -> dict:
    """What `plan` shows for a batched migration: the exact text each range runs and its parameters."""
    from sqlmig.batch.bounds import bound_statements
    from sqlmig.project import check_statements

    batch = migration.manifest.batch
    key = batch.key
    n = len(key) if key else 1
    key_name = ", ".join(key) if key else "primary key"
    shown = f"{batch.table}({key_name})"
    statements = []
    for b in bound_statements(check_statements(migration), batch, key):
        if n == 1:
            params = [f"$1 = batch_start: the first {shown} key of the range",
                      f"$2 = batch_end: the last {shown} key of the range"]  # fmt: skip
        else:
            params = [f"${1}..${n} = batch_start: the first ({key_name}) of the range",
                      f"${n + 1}..${2 * n} = batch_end: the last ({key_name}) of the range"]  # fmt: skip
        statements.append({"path": b.statement.path, "line": b.statement.line, "sql": b.server_text(n),
                           "params": params, "rewritten": b.rewritten})  # fmt: skip
    return {
        "table": batch.table, "key": list(key) if key else None, "size": batch.size, "min_size": batch.min_size,
        "max_size": batch.max_size, "target_ms": batch.target_ms, "sleep_ms": batch.sleep_ms,
        "max_replication_lag_s": batch.max_replication_lag_s, "max_rows": batch.max_rows,
        "capture": batch.capture, "statements": statements,
    }  # fmt: skip


def progress(conn: Any, settings: Any, project: Any) -> dict[str, float]:
    """Percentage done of each batched migration with checkpoints, by version (for `status`)."""
    from sqlmig.batch.executor import progress as _progress

    return _progress(conn, settings, project)


def _capture_for(runner: Any, step: Any) -> Any:
    from sqlmig.batch.capture import Capture, capture_table_name
    from sqlmig.batch.keyset import resolve_table

    m = step.migration
    table = resolve_table(runner.conn, m.manifest.batch, m.manifest_display)
    name = capture_table_name(runner.settings.history_table, m.version, m.name)
    return Capture(runner.conn, runner.settings.history_schema, name, table)


def rollback_text(step: Any) -> str | None:
    m = step.migration
    if m is not None and m.rollback is not None:
        return m.rollback.text
    return step.applied.rollback_sql if step.applied else None


def check_restore(conn: Any, settings: Any, step: Any) -> None:
    """Before any rollback runs (and for `plan --rollback`): a rollback that asks for captured rows
    (`-- sqlmig:restore-captured`) must find them. Raises RefusedError otherwise, saying why: the files
    are gone, the manifest has no capture, or the capture table was dropped (by `sqlmig finalize`, or by
    hand when the checkpoints are still there)."""
    from sqlmig.batch.capture import capture_table_name
    from sqlmig.batch.checkpoints import Checkpoints
    from sqlmig.errors import RefusedError
    from sqlmig.history import TABLE_EXISTS

    if step.direction != "down" or not has_restore_directive(rollback_text(step)):
        return
    m = step.migration
    stem = f"{step.version}_{step.name}"
    if m is None or m.manifest.batch is None or not m.manifest.batch.capture:
        raise RefusedError(
            f"{stem}: the rollback asks for captured rows ({DIRECTIVE_RESTORE}) but "
            + ("the migration's files are gone" if m is None else "its manifest has no batch with capture: true"),
            hint="restore the files, or write the rollback SQL yourself; nothing was rolled back",
        )
    from psycopg import sql

    name = capture_table_name(settings.history_table, m.version, m.name)
    shown = f"{settings.history_schema}.{name}"
    if conn.execute(TABLE_EXISTS, (sql.Identifier(settings.history_schema, name).as_string(conn),)).fetchone()[0]:
        return
    hint = ("replace the directive in the rollback file with SQL that undoes the data change, or restore the rows "
            "from a backup; nothing was rolled back")  # fmt: skip
    if Checkpoints(conn, settings).read(m.version):
        raise RefusedError(f"{stem}: no captured rows to restore: {shown} does not exist (dropped outside sqlmig)",
                           hint=hint)  # fmt: skip
    raise RefusedError(
        f"{stem}: its captured rows were finalized (`sqlmig finalize {m.version}` dropped {shown}); the rollback's "
        f"`-- {DIRECTIVE_RESTORE}` cannot restore them", hint=hint,
    )  # fmt: skip


def before_rollback(runner: Any, step: Any) -> None:
    """Restore captured rows when the rollback file says `-- sqlmig:restore-captured` (no-op otherwise)."""
    import time

    from sqlmig.events import RestoreDone, RestoreProgress

    if not has_restore_directive(rollback_text(step)):
        return
    check_restore(runner.conn, runner.settings, step)
    capture = _capture_for(runner, step)
    t0 = time.perf_counter()

    def on_slice(done: int, top: int) -> None:
        runner.emit(RestoreProgress(step.version, done, top))

    updated, inserted = capture.restore(on_slice)
    ms = int((time.perf_counter() - t0) * 1000)
    runner.emit(RestoreDone(step.version, updated, inserted, capture.shown, updated + inserted, ms))


def after_rollback(runner: Any, step: Any) -> None:
    """Once a batched migration is rolled back: drop its capture table and checkpoints."""
    from sqlmig.batch.checkpoints import Checkpoints

    m = step.migration
    if m is None or m.manifest.batch is None:
        return
    if m.manifest.batch.capture:
        from psycopg import sql

        from sqlmig.batch.capture import capture_table_name
        from sqlmig.history import DROP_CAPTURE

        name = capture_table_name(runner.settings.history_table, m.version, m.name)
        runner.conn.execute(sql.SQL(DROP_CAPTURE).format(capture=sql.Identifier(runner.settings.history_schema, name)))
    Checkpoints(runner.conn, runner.settings).delete(m.version)


def finalize(conn: Any, history: Any, settings: Any, project: Any, version: str) -> list[str]:
    """Drop an applied batched migration's capture table and checkpoints. Returns what was done.

    Raises RefusedError for a migration that is unknown, not batched, or not applied.
    """
    from psycopg import sql

    from sqlmig.batch.capture import capture_table_name
    from sqlmig.batch.checkpoints import Checkpoints
    from sqlmig.errors import RefusedError
    from sqlmig.history import DROP_CAPTURE, TABLE_EXISTS

    m = project.find(version)
    if m is None:
        raise RefusedError(f"no migration has version {version}", hint="see `sqlmig status`")
    if m.manifest.batch is None:
        raise RefusedError(f"{m.stem} is not a batched migration: nothing to finalize")
    row = history.read().get(m.version)
    if row is None or row.status != "applied":
        state = row.status if row else "pending"
        raise RefusedError(f"{m.stem} is {state}; only an applied migration can be finalized",
                           hint="finish it with `sqlmig apply` first")  # fmt: skip
    done = []
    name = capture_table_name(settings.history_table, m.version, m.name)
    ident = sql.Identifier(settings.history_schema, name)
    with conn.transaction():
        if conn.execute(TABLE_EXISTS, (ident.as_string(conn),)).fetchone()[0]:
            conn.execute(sql.SQL(DROP_CAPTURE).format(capture=ident))
            done.append(f"{m.stem}: dropped {settings.history_schema}.{name} (its captured rows can no longer "
                        "be restored)")  # fmt: skip
        store = Checkpoints(conn, settings)
        if store.read(m.version):
            store.delete(m.version)
            done.append(f"{m.stem}: removed its batch checkpoints")
    return done
