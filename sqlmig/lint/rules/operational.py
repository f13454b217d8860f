"""Operational safety: timeouts on lock-taking statements, and statements that survive a re-run."""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlmig import ddl, postgres
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import Hit, rule
from sqlmig.lint.rules.common import hit
from sqlmig.lint.rules.transactions import is_idempotent
from sqlmig.sql import Statement

_LONG_LOCK_TIMEOUT_S = 10.0


def _seconds(value: str) -> float | None:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*", value.strip("'\" ").lower())
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "min": 60, "h": 3600, None: 0.001}[m.group(2)]


def _strong(ctx: FileContext, stmt: Statement) -> list[postgres.LockEffect]:
    return [e for e in ctx.effects(stmt) if e.mode in postgres.STRONG_LOCKS]


@rule(
    "SM120",
    "require-lock-timeout",
    "warning",
    "A lock-taking statement with no lock_timeout",
    family="operational",
    scope="file",
)
def require_lock_timeout(ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags the first statement of a file that takes ACCESS EXCLUSIVE, EXCLUSIVE, SHARE ROW EXCLUSIVE or
    SHARE on an existing table when no lock_timeout is in effect: none set earlier in the file
    (`SET [LOCAL] lock_timeout`), none in the manifest, none in sqlmig's configuration (which sets one by
    default, 5s, for the migrations it runs). Also warns when the timeout in effect is over 10 seconds.

    ## Why is this bad
    A statement waiting for a lock blocks every later query on the table behind it. Behind one long
    transaction, a "quick" ALTER TABLE stops the application until the transaction ends.

    ## Example
    ```sql
    ALTER TABLE users ADD COLUMN plan text;   -- in a file run by another tool, with no timeout
    ```

    ## Use instead
    ```sql
    SET lock_timeout = '2s';
    ALTER TABLE users ADD COLUMN plan text;
    ```
    or `lock_timeout: 2s` in the manifest; sqlmig retries a migration that times out.

    ## Known problems
    None known.
    """
    for i, stmt in enumerate(ctx.statements):
        strong = _strong(ctx, stmt)
        if not strong:
            continue
        ctx_at = _session_before(ctx, i)
        timeout = ctx_at.timeout("lock_timeout")
        e = strong[0]
        if timeout is None:
            yield hit(
                f"{stmt.kind} takes {e.mode} on {e.table} with no lock_timeout: while it waits, every query on "
                f"{e.table} queues behind it",
                "SET lock_timeout = '2s' first, or lock_timeout in the manifest",
                stmt=stmt,
            )
        else:
            secs = _seconds(timeout[0])
            if secs is not None and secs > _LONG_LOCK_TIMEOUT_S:
                yield hit(
                    f"lock_timeout {timeout[0]} ({timeout[1]}) lets {stmt.kind} on {e.table} queue queries for "
                    f"up to {secs:g}s",
                    "use a few seconds and let sqlmig retry",
                    stmt=stmt,
                )
        return


def _session_before(ctx: FileContext, index: int) -> FileContext:
    """A view of the context with the SET statements before `index` applied."""
    from dataclasses import replace

    view = replace(ctx, session={})
    for stmt in ctx.statements[:index]:
        a = ddl.describe(stmt)
        if a.kind == "SET" and a.object:
            view.session[a.object] = ((a.detail or "").strip("'\" "), stmt.line)
        elif a.kind == "RESET" and a.object:
            view.session.pop(a.object, None)
    return view


@rule(
    "SM121",
    "require-statement-timeout",
    "info",
    "A slow statement with no statement_timeout",
    family="operational",
    scope="file",
)
def require_statement_timeout(ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports the first statement that scans or rewrites an existing table (a backfill, an index build, a
    validation) when no statement_timeout is in effect (file, manifest or configuration).

    ## Why is this bad
    A runaway migration holds its locks and its connection until someone notices.

    ## Example
    ```sql
    UPDATE orders SET total_cents = total * 100;
    ```

    ## Use instead
    `statement_timeout: 30min` in that migration's manifest: index builds and validations legitimately
    need long values, so set it per migration rather than globally.

    ## Known problems
    None known.
    """
    for i, stmt in enumerate(ctx.statements):
        slow = [e for e in ctx.effects(stmt) if e.scan or e.rewrite]
        if not slow:
            continue
        if _session_before(ctx, i).timeout("statement_timeout") is None:
            yield hit(
                f"{stmt.kind} scans {slow[0].table} with no statement_timeout",
                "statement_timeout in this migration's manifest",
                stmt=stmt,
            )
        return


_GUARDABLE = (
    "CREATE TABLE",
    "CREATE INDEX",
    "CREATE SEQUENCE",
    "CREATE SCHEMA",
    "CREATE EXTENSION",
    "CREATE VIEW",
    "CREATE FUNCTION",
    "CREATE TYPE",
    "DROP ",
    "ALTER TABLE",
)


@rule(
    "SM122",
    "robust-statements-when-no-tx",
    "warning",
    "A statement that fails when re-run, in a no-transaction migration",
    family="operational",
)
def robust_statements_when_no_tx(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    In a migration whose manifest says `transaction: none`, flags CREATE / DROP / ALTER TABLE ADD / DROP
    statements without `IF [NOT] EXISTS` (or `OR REPLACE`) where PostgreSQL allows one.

    ## Why is this bad
    Each statement commits on its own. If the process dies after a statement committed and before sqlmig
    recorded it, the re-run executes it again and fails with "already exists" / "does not exist".
    Only no-transaction migrations are checked: a transactional one never half-applies (squawk's
    prefer-robust-stmts fires everywhere, issues #385, #229, #134).

    ## Example
    ```sql
    -- manifest: transaction: none
    DROP INDEX CONCURRENTLY orders_user_idx;
    ```

    ## Use instead
    ```sql
    DROP INDEX CONCURRENTLY IF EXISTS orders_user_idx;
    ```

    ## Known problems
    None known.
    """
    if ctx.manifest is None or ctx.manifest.transactional or not a.kind.startswith(_GUARDABLE):
        return
    if a.kind == "ALTER TABLE" and not any(
        x.verb in ("ADD COLUMN", "DROP COLUMN", "DROP CONSTRAINT") for x in a.actions
    ):
        return
    if (a.kind == "CREATE FUNCTION" and "OR REPLACE" in a.flags) or is_idempotent(stmt, a):
        return
    guard = "IF NOT EXISTS" if a.kind.startswith("CREATE") or "ADD COLUMN" in a.verbs else "IF EXISTS"
    yield hit(
        f"{a.kind} {a.object or a.table or ''} fails if re-run after a crash: this migration runs without a "
        "transaction",
        f"add {guard}",
    )
