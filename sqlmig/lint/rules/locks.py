"""Locks held and taken across statements: slow work under an earlier lock, repeated ALTER TABLE, triggers,
policies and row level security."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmig import ddl, postgres
from sqlmig.lint.context import SINGLE_ALTER_VERBS, FileContext, HeldLock
from sqlmig.lint.registry import Hit, rule
from sqlmig.lint.rules.common import existing_table, hit
from sqlmig.sql import Statement


@rule(
    "SM008",
    "lock-held-across-statements",
    "warning",
    "Slow work while an earlier statement's lock is held",
    family="rewrite",
)
def lock_held_across_statements(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    In a migration that runs in one transaction, flags slow work (a scan, a rewrite, an index build,
    UPDATE/DELETE, VALIDATE) that comes after a statement that took a strong lock (ACCESS EXCLUSIVE,
    EXCLUSIVE, SHARE ROW EXCLUSIVE or SHARE) on an existing table.

    ## Why is this bad
    Locks are held until COMMIT. The quick ALTER at the top keeps its ACCESS EXCLUSIVE while the slow
    statement below it runs, so the outage lasts as long as the slow part.

    ## Example
    ```sql
    ALTER TABLE users ADD COLUMN plan text;
    CREATE INDEX accounts_owner_idx ON accounts (owner_id);   -- users stays locked meanwhile
    ```

    ## Use instead
    One lock-taking statement per transaction: put the slow work in a migration of its own.

    ## Known problems
    DML on the very table that was altered is SM301's business and is not repeated here.
    """
    if not ctx.transactional:
        return
    mine = ctx.effects(stmt)
    if not (any(e.scan or e.rewrite for e in mine) or (a.kind in ("UPDATE", "DELETE") and mine)):
        return
    held = _first_held_elsewhere(ctx, a, mine)
    if held is not None:
        e = held.effect
        yield hit(
            f"{stmt.kind or a.kind} runs while the {e.mode} lock on {e.table} taken at line "
            f"{held.stmt.line} is held until COMMIT (blocks {postgres.blocks(e.mode)})",
            "move the slow statement to a migration of its own",
        )


def _first_held_elsewhere(ctx: FileContext, a: ddl.Anatomy, mine: list[postgres.LockEffect]) -> HeldLock | None:
    """The earliest strong lock of the transaction this statement waits behind without holding it itself.

    Tables are visited in the order they were first locked, so the walk stops after the few tables the
    statement itself touches: linear in the file, however many locks the transaction holds."""
    best: HeldLock | None = None
    for modes in ctx.tx_locks.values():
        candidates = sorted(modes.values(), key=lambda h: h.order)
        if best is not None and candidates[0].order > best.order:
            break
        for h in candidates:
            e = h.effect
            if a.kind in ("UPDATE", "DELETE") and ddl.same_name(e.table, a.table):
                continue  # SM301
            if any(ddl.same_name(m.table, e.table) and postgres.lock_rank(m.mode) >= postgres.lock_rank(e.mode)
                   for m in mine):  # fmt: skip
                continue  # the statement blocks that table as much by itself
            if best is None or h.order < best.order:
                best = h
            break
    return best


@rule(
    "SM009",
    "combine-alter-table",
    "info",
    "Several ALTER TABLE statements on one table",
    family="rewrite",
    kinds=("ALTER TABLE",),
)
def combine_alter_table(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports a second `ALTER TABLE` on the same existing table in one file.

    ## Why is this bad
    Each statement queues for the lock again, and each rewriting action may rewrite the table again.

    ## Example
    ```sql
    ALTER TABLE users ADD COLUMN a text;
    ALTER TABLE users ADD COLUMN b text;
    ```

    ## Use instead
    ```sql
    ALTER TABLE users ADD COLUMN a text, ADD COLUMN b text;
    ```

    ## Known problems
    Some actions cannot be combined (RENAME, SET SCHEMA, ATTACH PARTITION); they are not reported.
    """
    if a.kind != "ALTER TABLE" or not existing_table(ctx, a) or set(a.verbs) & SINGLE_ALTER_VERBS:
        return
    first = ctx.earlier(("ALTER TABLE combinable",), a.table)
    if first is not None:
        yield hit(
            f"second ALTER TABLE {a.table} in this file (first at line {first.line})",
            "combine the actions into one ALTER TABLE, separated by commas",
        )


_BEHAVIOUR = {"CREATE TRIGGER", "DROP TRIGGER", "CREATE POLICY", "DROP POLICY", "ALTER POLICY"}


@rule(
    "SM010",
    "trigger-policy-rls-locks",
    "info",
    "Triggers, policies and row level security lock the table",
    family="rewrite",
    kinds=("ALTER TABLE", "CREATE TRIGGER", "DROP TRIGGER", "CREATE POLICY", "DROP POLICY", "ALTER POLICY"),
)
def trigger_policy_rls_locks(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `CREATE/DROP TRIGGER`, `CREATE/ALTER/DROP POLICY`, `ENABLE/DISABLE ROW LEVEL SECURITY` and
    `ENABLE/DISABLE TRIGGER` on existing tables.

    ## Why is this bad
    CREATE TRIGGER and ENABLE/DISABLE TRIGGER take SHARE ROW EXCLUSIVE (writes wait); DROP TRIGGER,
    policies and row level security take ACCESS EXCLUSIVE (everything waits), and they change what
    the running application sees.

    ## Example
    ```sql
    CREATE POLICY tenant_isolation ON orders USING (tenant_id = current_setting('app.tenant')::int);
    ```

    ## Use instead
    Keep lock_timeout set, and deploy the application that expects the new behaviour first.

    ## Known problems
    None known.
    """
    if a.kind in _BEHAVIOUR and existing_table(ctx, a):
        mode = "SHARE ROW EXCLUSIVE" if a.kind == "CREATE TRIGGER" else "ACCESS EXCLUSIVE"
        yield hit(
            f"{a.kind} {a.object} on {a.table} takes {mode} on {a.table} (blocks {postgres.blocks(mode)})",
            "make sure lock_timeout is set; deploy the application that expects it first",
        )
    if a.kind == "ALTER TABLE" and existing_table(ctx, a):
        for act in a.actions:
            if "ROW LEVEL SECURITY" in act.verb or act.verb in ("ENABLE TRIGGER", "DISABLE TRIGGER"):
                mode = "SHARE ROW EXCLUSIVE" if "TRIGGER" in act.verb else "ACCESS EXCLUSIVE"
                yield hit(
                    f"ALTER TABLE {a.table} {act.verb} takes {mode} (blocks {postgres.blocks(mode)})",
                    "make sure lock_timeout is set; deploy the application that expects it first",
                    act,
                )
