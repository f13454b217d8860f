"""Constraints: CHECK, FOREIGN KEY, UNIQUE, PRIMARY KEY and EXCLUDE, and how to add them without a long lock."""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlmig import ddl
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import Hit, rule
from sqlmig.lint.rules.common import alter_existing, col, hit
from sqlmig.sql import Statement


def _added(ctx: FileContext, a: ddl.Anatomy, *kinds: str) -> Iterator[tuple[ddl.Action, ddl.Constraint]]:
    for act in alter_existing(ctx, a, "ADD CONSTRAINT"):
        if act.constraint is not None and act.constraint.kind in kinds:
            yield act, act.constraint


def _label(k: ddl.Constraint) -> str:
    return f"{k.kind} {k.name}" if k.name else k.kind


@rule(
    "SM030",
    "check-without-not-valid",
    "error",
    "A CHECK constraint added without NOT VALID",
    family="constraint",
    kinds=("ALTER TABLE",),
)
def check_without_not_valid(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ADD CONSTRAINT … CHECK (…)` without `NOT VALID` on an existing table, and an inline
    `ADD COLUMN x … CHECK (…)`.

    ## Why is this bad
    PostgreSQL checks every row while holding ACCESS EXCLUSIVE: no reads or writes until the scan ends
    (measured, the inline form included).

    ## Example
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0);
    ```

    ## Use instead
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID;
    -- in a later migration (SHARE UPDATE EXCLUSIVE: reads and writes go on):
    ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;
    ```

    ## Known problems
    None known.
    """
    for act, k in _added(ctx, a, "CHECK"):
        if not (k.not_valid or k.not_enforced):
            yield hit(
                f"ADD {_label(k)} on {a.table} checks every row under ACCESS EXCLUSIVE (blocks reads and writes)",
                "add it with NOT VALID, then VALIDATE CONSTRAINT in a later migration",
                act,
            )
    for act in alter_existing(ctx, a, "ADD COLUMN"):
        if act.coldef and act.coldef.check:
            yield hit(
                f"ADD COLUMN {col(a.table, act.column)} with an inline CHECK checks every row of {a.table} "
                "under ACCESS EXCLUSIVE",
                "add the column, then ADD CONSTRAINT … CHECK (…) NOT VALID and VALIDATE it in a later migration",
                act,
            )


@rule(
    "SM031",
    "fk-without-not-valid",
    "error",
    "A foreign key added without NOT VALID",
    family="constraint",
    kinds=("ALTER TABLE",),
)
def fk_without_not_valid(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ADD [CONSTRAINT …] FOREIGN KEY … REFERENCES …` without `NOT VALID` on an existing table.

    ## Why is this bad
    It takes SHARE ROW EXCLUSIVE on both tables and scans the referencing table, so writes to both
    tables wait for the whole scan (measured).

    ## Example
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);
    ```

    ## Use instead
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
    -- in a later migration (SHARE UPDATE EXCLUSIVE on orders, ROW SHARE on users):
    ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;
    ```

    ## Known problems
    None known.
    """
    for act, k in _added(ctx, a, "FOREIGN KEY"):
        if not (k.not_valid or k.not_enforced):
            yield hit(
                f"ADD {_label(k)} on {a.table} scans {a.table} while holding SHARE ROW EXCLUSIVE on "
                f"{a.table} and {k.references} (blocks writes to both)",
                "add it with NOT VALID, then VALIDATE CONSTRAINT in a later migration",
                act,
            )


@rule(
    "SM039",
    "fk-lock-on-referenced-table",
    "info",
    "A new foreign key locks the referenced table",
    family="constraint",
    aliases=("sm031a",),
    kinds=("ALTER TABLE", "CREATE TABLE"),
)
def fk_lock_on_referenced_table(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports a foreign key created with a new column or a new table (`ADD COLUMN … REFERENCES r`,
    `CREATE TABLE … REFERENCES r`, a FOREIGN KEY on a table created in the same file) that references
    an existing table (catalogue id SM031a).

    ## Why is this bad
    There is nothing to scan (the new column is all NULL), but PostgreSQL takes SHARE ROW EXCLUSIVE on
    the referenced table until commit: writes to it wait, and the statement itself waits behind any
    long transaction on it (measured).

    ## Example
    ```sql
    ALTER TABLE orders ADD COLUMN coupon_id bigint REFERENCES coupons (id);
    ```

    ## Use instead
    This is the safe way to add one; make sure lock_timeout is set (sqlmig sets it from the manifest
    or the configuration) and keep the transaction short.

    ## Known problems
    None known.
    """
    refs: list[tuple[str, object]] = []
    if a.kind == "CREATE TABLE":
        refs = [(c.references, c) for c in a.columns if c.references]
        refs += [(k.references, None) for k in a.constraints if k.references]
    elif a.kind == "ALTER TABLE":
        for act in a.actions:
            if act.verb == "ADD COLUMN" and act.coldef and act.coldef.references:
                refs.append((act.coldef.references, act))
            elif act.verb == "ADD CONSTRAINT" and act.constraint and act.constraint.references and ctx.is_new(a.table):
                refs.append((act.constraint.references, act))
    for ref, at in refs:
        if ref and not ctx.is_new(ref) and not ddl.same_name(ref, a.table):
            yield hit(
                f"the foreign key from {a.table} takes SHARE ROW EXCLUSIVE on {ref} until commit "
                f"(blocks writes to {ref})",
                "fine as it is; keep lock_timeout set and the transaction short",
                at,
            )


@rule(
    "SM032",
    "validate-in-same-transaction",
    "error",
    "VALIDATE CONSTRAINT in the transaction that locked the table",
    family="constraint",
    kinds=("ALTER TABLE",),
)
def validate_in_same_transaction(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `VALIDATE CONSTRAINT c` in the same transaction as the `ADD … NOT VALID` of `c`, or after any
    statement of the transaction that took ACCESS EXCLUSIVE or SHARE ROW EXCLUSIVE on that table.

    ## Why is this bad
    VALIDATE takes only SHARE UPDATE EXCLUSIVE, but the stronger lock taken earlier in the transaction
    is held until COMMIT, so the validation scan runs with the table blocked: NOT VALID bought nothing.

    ## Example
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID;
    ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;
    ```

    ## Use instead
    Put VALIDATE CONSTRAINT in a migration of its own.

    ## Known problems
    None known.
    """
    if not ctx.transactional:
        return
    for act in alter_existing(ctx, a, "VALIDATE CONSTRAINT"):
        strong = [h for h in ctx.held_locks(a.table) if h.effect.mode in _BLOCKS_VALIDATION]
        if strong:
            yield hit(
                f"VALIDATE CONSTRAINT {act.name} scans {a.table} while the {strong[0].effect.mode} lock taken "
                f"at line {strong[0].stmt.line} is held until COMMIT",
                "validate in a migration of its own",
                act,
            )


_BLOCKS_VALIDATION = ("ACCESS EXCLUSIVE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE")


@rule(
    "SM033",
    "unique-constraint-builds-index",
    "error",
    "A UNIQUE constraint builds its index under ACCESS EXCLUSIVE",
    family="constraint",
    kinds=("ALTER TABLE",),
)
def unique_constraint_builds_index(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ADD CONSTRAINT … UNIQUE (…)` and `ADD COLUMN … UNIQUE` on an existing table.

    ## Why is this bad
    The unique index is built while ACCESS EXCLUSIVE is held: a full scan and sort with every read and
    write waiting, even for a new column (measured).

    ## Example
    ```sql
    ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
    ```

    ## Use instead
    ```sql
    CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);   -- transaction: none
    -- next migration (brief lock, no scan):
    ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;
    ```

    ## Known problems
    None known.
    """
    for act, k in _added(ctx, a, "UNIQUE"):
        if k.using_index is None:
            yield hit(
                f"ADD {_label(k)} on {a.table} builds a unique index under ACCESS EXCLUSIVE (blocks reads and writes)",
                "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX",
                act,
            )
    for act in alter_existing(ctx, a, "ADD COLUMN"):
        if act.coldef and act.coldef.unique:
            yield hit(
                f"ADD COLUMN {col(a.table, act.column)} UNIQUE builds a unique index under ACCESS EXCLUSIVE",
                "add the column, CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX",
                act,
            )


@rule(
    "SM034",
    "primary-key-builds-index",
    "error",
    "ADD PRIMARY KEY builds its index under ACCESS EXCLUSIVE",
    family="constraint",
    kinds=("ALTER TABLE",),
)
def primary_key_builds_index(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ADD PRIMARY KEY (…)` (without `USING INDEX`) and `ADD COLUMN … PRIMARY KEY` on an existing table.

    ## Why is this bad
    The index is built under ACCESS EXCLUSIVE, and nullable key columns are also scanned for NULLs
    (an implicit SET NOT NULL, see SM006).

    ## Example
    ```sql
    ALTER TABLE events ADD PRIMARY KEY (id);
    ```

    ## Use instead
    ```sql
    CREATE UNIQUE INDEX CONCURRENTLY events_pkey ON events (id);   -- transaction: none
    -- make id NOT NULL without a scan (SM006), then:
    ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_pkey;
    ```

    ## Known problems
    None known.
    """
    for act, k in _added(ctx, a, "PRIMARY KEY"):
        if k.using_index is None:
            yield hit(
                f"ADD PRIMARY KEY on {a.table} builds its index under ACCESS EXCLUSIVE (blocks reads and writes)",
                "CREATE UNIQUE INDEX CONCURRENTLY, prove NOT NULL without a scan, then ADD CONSTRAINT … "
                "PRIMARY KEY USING INDEX",
                act,
            )
    for act in alter_existing(ctx, a, "ADD COLUMN"):
        if act.coldef and act.coldef.primary_key:
            yield hit(
                f"ADD COLUMN {col(a.table, act.column)} PRIMARY KEY builds an index under ACCESS EXCLUSIVE",
                "add the column, build a unique index concurrently, then ADD PRIMARY KEY USING INDEX",
                act,
            )


@rule(
    "SM035",
    "exclusion-constraint",
    "warning",
    "An exclusion constraint has no online path",
    family="constraint",
    kinds=("ALTER TABLE",),
)
def exclusion_constraint(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ADD CONSTRAINT … EXCLUDE …` on an existing table.

    ## Why is this bad
    It builds an index and checks every row under ACCESS EXCLUSIVE. Unlike CHECK and FOREIGN KEY it does
    not support NOT VALID (PostgreSQL rejects it), so there is no online way to add one.

    ## Example
    ```sql
    ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);
    ```

    ## Use instead
    Define it when the table is created, or accept a maintenance window for it.

    ## Known problems
    None known.
    """
    for act, k in _added(ctx, a, "EXCLUDE"):
        yield hit(
            f"ADD {_label(k)} on {a.table} builds an index and checks every row under ACCESS EXCLUSIVE, "
            "and EXCLUDE cannot be NOT VALID",
            "create it with the table, or plan a maintenance window",
            act,
        )


_FK_NAME = re.compile(r"(_fkey$|_fk$|^fk_|_fk_)", re.I)


@rule(
    "SM036",
    "drop-fk-locks-both",
    "warning",
    "Dropping a foreign key locks both tables",
    family="constraint",
    kinds=("ALTER TABLE",),
)
def drop_fk_locks_both(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `DROP CONSTRAINT` of a foreign key (known from earlier migrations, or named like one).

    ## Why is this bad
    It takes ACCESS EXCLUSIVE on the referencing table *and* on the referenced table (measured): both
    stop serving reads and writes while the statement waits for and holds the locks.

    ## Example
    ```sql
    ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;
    ```

    ## Use instead
    Keep lock_timeout short and run it outside peak hours; the lock is brief once granted.

    ## Known problems
    A constraint is recognised by name (`*_fkey`, `fk_*`) when no earlier migration shows what it is.
    """
    for act in alter_existing(ctx, a, "DROP CONSTRAINT"):
        target = ctx.model.foreign_key_target(a.table or "", act.name or "")
        if target or (act.name and _FK_NAME.search(act.name)):
            both = f"{a.table} and {target}" if target else f"{a.table} and the table it references"
            yield hit(
                f"DROP CONSTRAINT {act.name} takes ACCESS EXCLUSIVE on {both} (blocks reads and writes)",
                "keep lock_timeout short and run it off-peak",
                act,
            )


@rule(
    "SM037",
    "alter-constraint-lock",
    "info",
    "ALTER CONSTRAINT takes ACCESS EXCLUSIVE",
    family="constraint",
    kinds=("ALTER TABLE",),
)
def alter_constraint_lock(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `ALTER CONSTRAINT … [NOT] DEFERRABLE / [NOT] ENFORCED` on an existing table.

    ## Why is this bad
    It takes ACCESS EXCLUSIVE (measured for DEFERRABLE); ENFORCED (PostgreSQL 18) also validates.

    ## Example
    ```sql
    ALTER TABLE orders ALTER CONSTRAINT orders_user_fk DEFERRABLE;
    ```

    ## Use instead
    Keep lock_timeout set.

    ## Known problems
    None known.
    """
    for act in alter_existing(ctx, a, "ALTER CONSTRAINT"):
        yield hit(f"ALTER CONSTRAINT {act.name} takes ACCESS EXCLUSIVE on {a.table}", "keep lock_timeout set", act)


@rule(
    "SM038",
    "not-enforced-constraint",
    "info",
    "A constraint declared NOT ENFORCED",
    family="constraint",
    kinds=("ALTER TABLE", "CREATE TABLE"),
)
def not_enforced_constraint(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports a CHECK or FOREIGN KEY declared `NOT ENFORCED` (PostgreSQL 18).

    ## Why is this bad
    Adding it is cheap, but nothing checks it: readers of the schema may assume a guarantee that
    does not hold.

    ## Example
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT ENFORCED;
    ```

    ## Use instead
    Say why in a comment, and plan the later `ALTER CONSTRAINT … ENFORCED` (with its validation).

    ## Known problems
    None known.
    """
    found = [k for k in a.constraints if k.not_enforced]
    found += [x.constraint for x in a.actions if x.constraint is not None and x.constraint.not_enforced]
    for k in found:
        yield hit(
            f"{_label(k)} on {a.table} is NOT ENFORCED: nothing checks it", "document why, and when it will be enforced"
        )
