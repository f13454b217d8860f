"""Transactions: statements PostgreSQL refuses in a transaction block, and what a transaction changes."""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlmig import ddl, postgres
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import Hit, rule
from sqlmig.lint.rules.common import hit, split_hint
from sqlmig.sql import Statement


@rule(
    "SM100",
    "non-tx-statement-in-tx",
    "error",
    "A statement PostgreSQL refuses inside a transaction block",
    family="transaction",
)
def non_tx_statement_in_tx(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags every statement PostgreSQL refuses inside a transaction block (`CREATE/DROP INDEX CONCURRENTLY`,
    `REINDEX … CONCURRENTLY`, `REINDEX SCHEMA/DATABASE/SYSTEM`, `VACUUM`, `CLUSTER` without a table,
    `CREATE/DROP DATABASE`, `ALTER SYSTEM`, `DETACH PARTITION … CONCURRENTLY`, `DISCARD ALL`, …) in a
    migration whose manifest says `transaction: per-migration` (the default), or between BEGIN and
    COMMIT in a loose file.

    ## Why is this bad
    The migration fails with "… cannot run inside a transaction block" (measured for each) when it
    reaches production, after everything before it ran.

    ## Example
    ```sql
    -- manifest: transaction: per-migration
    CREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);
    ```

    ## Use instead
    Move it to a migration of its own whose manifest says `transaction: none`.

    ## Known problems
    None known.
    """
    reason = postgres.not_in_transaction_reason(stmt, pg_version=ctx.pg)
    if reason and (ctx.runner_wraps or (ctx.manifest is None and ctx.explicit_tx)):
        where = (
            "this migration runs in one transaction (transaction: per-migration)"
            if ctx.runner_wraps
            else ("it is inside BEGIN … COMMIT")
        )
        yield hit(f"{reason}, and {where}", f"run it {split_hint(ctx)}")


@rule(
    "SM509",
    "string-syntax-change",
    "error",
    "A statement that turns standard_conforming_strings off (apply refuses it)",
    family="transaction",
)
def string_syntax_change(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `SET standard_conforming_strings` to anything but on, `RESET standard_conforming_strings`,
    `RESET ALL`, and `set_config('standard_conforming_strings', …)`.

    ## Why is this bad
    With the setting off, a backslash in '…' is an escape, so the server reads the statements after it
    differently from how they were split and reviewed. sqlmig runs every file with the setting on and
    `apply` (and `check`) refuse these statements before anything runs; this rule says so at commit time.
    `SET standard_conforming_strings = on` (pg_dump and Rails' structure.sql start with it) changes
    nothing and passes.

    ## Example
    ```sql
    SET standard_conforming_strings = off;
    INSERT INTO paths VALUES ('C:\\new');
    ```

    ## Use instead
    Leave the setting on and write backslash escapes as E'…' strings: `E'C:\\new'`.

    ## Known problems
    None known.
    """
    if postgres.changes_string_syntax(stmt):
        yield hit(
            f"{stmt.first_line[:60]}: changes how string literals are read; sqlmig runs every file with "
            "standard_conforming_strings on and apply refuses this",
            "remove it, and write backslash escapes as E'...' strings",
        )


_IDEMPOTENT_HEADS = {
    "SET",
    "RESET",
    "SELECT",
    "ANALYZE",
    "VACUUM",
    "REINDEX",
    "COMMENT",
    "GRANT",
    "REVOKE",
    "REFRESH",
    "UPDATE",
    "DELETE",
    "INSERT",
}


def is_idempotent(stmt: Statement, a: ddl.Anatomy) -> bool:
    """Whether running the statement twice succeeds (IF [NOT] EXISTS, OR REPLACE, SET, DML…)."""
    if a.kind.split(" ")[0] in _IDEMPOTENT_HEADS or a.flags & {"IF EXISTS", "IF NOT EXISTS", "OR REPLACE"}:
        return True
    return bool(a.actions) and all(x.flags & {"IF EXISTS", "IF NOT EXISTS"} for x in a.actions)


@rule(
    "SM101",
    "non-tx-migration-hygiene",
    "warning",
    "A transaction: none migration that mixes in ordinary DDL",
    family="transaction",
    scope="file",
)
def non_tx_migration_hygiene(ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    In a migration whose manifest says `transaction: none`, flags each statement that PostgreSQL would
    run in a transaction (ordinary DDL) when the migration has more than one statement.

    ## Why is this bad
    Without a transaction every statement commits on its own: when a later statement fails, the earlier
    ones stay applied and the migration is half done. sqlmig resumes at the failed statement, but the
    schema stays half-changed until someone fixes and re-runs it, and the rollback must cope with either
    state. Only the statements that need it should give up atomicity.

    ## Example
    ```sql
    -- manifest: transaction: none
    ALTER TABLE orders ADD COLUMN source text;
    CREATE INDEX CONCURRENTLY orders_source_idx ON orders (source);
    ```

    ## Use instead
    One migration with the ALTER TABLE (transactional), one with the concurrent index (transaction: none).

    ## Known problems
    None known.
    """
    if ctx.manifest is None or ctx.manifest.transactional or len(ctx.statements) < 2:
        return
    for stmt in ctx.statements:
        a = ddl.describe(stmt)
        if postgres.not_in_transaction_reason(stmt, pg_version=ctx.pg) or is_idempotent(stmt, a):
            continue
        yield hit(
            f"{stmt.kind} could run in a transaction, but this transaction: none migration commits it on its "
            "own: if a later statement fails it stays applied",
            "move the ordinary DDL to a transactional migration of its own",
            stmt=stmt,
        )


@rule(
    "SM102",
    "enum-value-used-same-tx",
    "error",
    "A new enum value used in the transaction that added it",
    family="transaction",
)
def enum_value_used_same_tx(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags a use of a value (`'x'` in a cast, a default, an UPDATE, a CHECK…) after `ALTER TYPE e ADD VALUE 'x'`
    in the same transaction.

    ## Why is this bad
    PostgreSQL refuses it: `ERROR: unsafe use of new value "x" of enum type e` (measured on 15 and 18).
    PostgreSQL 18 allows it only when the enum type itself was created in the same transaction.

    ## Example
    ```sql
    ALTER TYPE order_status ADD VALUE 'refunded';
    UPDATE orders SET status = 'refunded' WHERE refund_id IS NOT NULL;
    ```

    ## Use instead
    Put ADD VALUE in a migration of its own, before the migration that uses the value.

    ## Known problems
    Any string literal equal to the new value counts as a use.
    """
    if not ctx.transactional or a.kind == "ALTER TYPE" or not ctx.tx_labels:  # ADD VALUE … BEFORE 'x': no use
        return
    strings = dict.fromkeys(t.text for t in ddl.tokens_of(stmt) if t.token_type.name.endswith("STRING"))
    found = sorted((line, label, enum) for label in strings for enum, line in ctx.tx_labels.get(label, ()))
    for line, label, enum in found:
        if ctx.pg >= 18 and ctx.is_new(enum):
            continue
        yield hit(
            f"'{label}' is used in the transaction that added it to {enum} (line {line}): "
            f'PostgreSQL refuses it with "unsafe use of new value"',
            "add the value in an earlier migration of its own",
        )


@rule(
    "SM103",
    "explicit-transaction-control",
    "error",
    "BEGIN, COMMIT or SAVEPOINT written in the file",
    family="transaction",
    scope="file",
)
def explicit_transaction_control(ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK` and `SAVEPOINT` in a migration of a
    sqlmig project (sqlmig owns the transaction and refuses them). In a file outside a project (whose
    transaction mode is unknown) a BEGIN without COMMIT or a BEGIN inside another is an error, and
    well-formed transaction control is a warning, once per file: such a file is often a migration on its
    way into a project, or is run by a tool that wraps it in a transaction (`django-admin sqlmigrate`
    prints exactly that shape).

    ## Why is this bad
    A COMMIT inside a wrapped migration ends sqlmig's transaction early, so a later failure leaves half
    the migration applied. A nested BEGIN only warns and then commits early. An unclosed BEGIN is rolled
    back when the session ends: the work silently disappears.

    ## Example
    ```sql
    BEGIN;
    ALTER TABLE users ADD COLUMN plan text;
    COMMIT;
    ```

    ## Use instead
    Remove them and let the manifest's `transaction:` decide.

    ## Known problems
    None known.
    """
    control = [s for s in ctx.statements if postgres.is_transaction_control(s)]
    if ctx.in_project:
        for s in control:
            yield hit(
                f"{s.first_line.strip()[:40]}: sqlmig wraps each migration itself and refuses transaction "
                "control in the file",
                "remove it; set transaction: none in the manifest to run statements one by one",
                stmt=s,
            )
        return
    depth, opened, wrong = 0, None, False
    for s in control:
        boundary = postgres.transaction_boundary(s)
        if boundary == "begin":
            if depth:
                wrong = True
                yield hit(
                    "BEGIN inside an open transaction only warns, and the inner COMMIT commits everything",
                    "remove the inner BEGIN/COMMIT",
                    stmt=s,
                )
            depth, opened = depth + 1, s
        elif boundary == "end":
            depth = 0
    if depth and opened is not None:
        yield hit(
            "BEGIN without COMMIT: the work is rolled back when the session ends", "add COMMIT at the end", stmt=opened
        )
    elif control and not wrong:
        lines = ", ".join(str(s.line) for s in control[:4]) + (", …" if len(control) > 4 else "")
        yield hit(
            f"transaction control written in the file (line{'s' if len(control) > 1 else ''} {lines}): right for "
            "psql, but a runner that wraps each migration in a transaction (sqlmig in a project, and most others) "
            "has it committed early",
            "remove it when this file becomes a migration: sqlmig runs each one in a transaction of its own "
            "(transaction: per-migration in the manifest)",
            stmt=control[0],
            severity="warning",
        )


_TX_WORDS = re.compile(r"\b(COMMIT|ROLLBACK)\b", re.I)


@rule(
    "SM104",
    "tx-control-in-procedure",
    "error",
    "COMMIT or ROLLBACK in a DO block or procedure inside a transaction",
    family="transaction",
    kinds=("DO", "CALL"),
)
def tx_control_in_procedure(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags a `DO` block whose body COMMITs or ROLLBACKs in a migration that runs in a transaction; reports
    (info) a `CALL` there, since the procedure may do the same.

    ## Why is this bad
    Transaction control inside a DO block or procedure that was called inside a transaction block fails
    with `ERROR: invalid transaction termination` (measured).

    ## Example
    ```sql
    DO $$ BEGIN UPDATE big SET x = 1 WHERE id < 1000; COMMIT; END $$;
    ```

    ## Use instead
    `transaction: none` in the manifest, or no transaction control in the body (sqlmig's `batch:` runs
    large updates in committed batches for you).

    ## Known problems
    The body is searched for the words COMMIT and ROLLBACK, comments included.
    """
    if not ctx.transactional:
        return
    head = stmt.keywords[0] if stmt.keywords else ""
    body = " ".join(t.text for t in ddl.tokens_of(stmt) if t.token_type.name.endswith("STRING"))
    if head == "DO" and _TX_WORDS.search(body):
        yield hit(
            "the DO block commits or rolls back inside this migration's transaction: PostgreSQL fails with "
            "invalid transaction termination",
            "set transaction: none, or remove COMMIT/ROLLBACK from the body",
        )
    elif head == "CALL":
        yield hit(
            "CALL inside a transaction: if the procedure commits or rolls back, PostgreSQL fails with "
            "invalid transaction termination",
            "set transaction: none if the procedure controls transactions",
            severity="info",
        )


@rule(
    "SM105",
    "set-scope-mismatch",
    "warning",
    "SET LOCAL without a transaction, or a session SET inside one",
    family="transaction",
    kinds=("SET",),
)
def set_scope_mismatch(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `SET LOCAL …` in a migration that runs without a transaction, and a plain `SET lock_timeout` or
    `SET statement_timeout` in one that runs in a transaction.

    ## Why is this bad
    Outside a transaction, `SET LOCAL` has no effect (PostgreSQL only warns), so the timeout you meant
    to set is not set. A session-level SET outlives the migration on a pooled connection.

    ## Example
    ```sql
    -- manifest: transaction: none
    SET LOCAL lock_timeout = '2s';
    ```

    ## Use instead
    `SET LOCAL` inside transactions; a session `SET` (then `RESET`) without one; or the manifest's
    `lock_timeout` / `statement_timeout`, which sqlmig applies the right way in either mode.

    ## Known problems
    None known.
    """
    if a.kind != "SET" or ctx.manifest is None:
        return
    if "LOCAL" in a.flags and not ctx.manifest.transactional:
        yield hit(
            f"SET LOCAL {a.object} has no effect outside a transaction (this migration has transaction: none)",
            f"use SET {a.object} (and RESET it at the end), or {a.object} in the manifest",
        )
    elif "LOCAL" not in a.flags and a.object in ("lock_timeout", "statement_timeout") and ctx.manifest.transactional:
        yield hit(
            f"SET {a.object} lasts for the whole session, beyond this migration's transaction",
            f"SET LOCAL {a.object}, or {a.object} in the manifest",
        )
