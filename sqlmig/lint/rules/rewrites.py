"""Table rewrites and heavy locks: ALTER TABLE forms that copy every row while holding ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmig import ddl, postgres
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import Hit, rule
from sqlmig.lint.rules.common import alter_existing, col, existing_table, hit
from sqlmig.sql import Statement

_REWRITE = "rewrites {t} and every index on it under ACCESS EXCLUSIVE (blocks reads and writes)"


def _add_column_rewrites(ctx: FileContext, a: ddl.Anatomy, *causes: str) -> Iterator[tuple[ddl.Action, object]]:
    for act in alter_existing(ctx, a, "ADD COLUMN"):
        if act.coldef is None:
            continue
        why = postgres.add_column_rewrite(act.coldef, pg_version=ctx.pg, facts=ctx.model)
        if why is not None and why.cause in causes:
            yield act, why


@rule(
    "SM001",
    "add-column-volatile-default",
    "error",
    "ADD COLUMN with a volatile default rewrites the table",
    family="rewrite",
    kinds=("ALTER TABLE",),
)
def add_column_volatile_default(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ALTER TABLE … ADD COLUMN … DEFAULT <expr>` on an existing table when the default is volatile
    (`random()`, `clock_timestamp()`, `gen_random_uuid()`, `uuidv7()`, `nextval()`…) or calls a function
    sqlmig does not know (a user function, reported as a warning). Before PostgreSQL 11 (`target_pg_version`),
    any non-NULL default.

    ## Why is this bad
    PostgreSQL must compute the default for every existing row, so it rewrites the table and all of
    its indexes while holding ACCESS EXCLUSIVE: no reads, no writes until it is done. A constant default,
    `now()` or `CURRENT_TIMESTAMP` is stored once in the catalog instead (PostgreSQL 11+), no rewrite.

    ## Example
    ```sql
    ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();
    ```

    ## Use instead
    ```sql
    ALTER TABLE users ADD COLUMN token uuid;                              -- catalog only
    ALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();   -- new rows only
    -- then backfill existing rows in batches (a `batch:` migration), and SET NOT NULL safely (SM006)
    ```

    ## Known problems
    A user function declared IMMUTABLE or STABLE is reported as unknown; suppress with a reason.
    """
    for act, why in _add_column_rewrites(ctx, a, "default"):
        c = act.coldef
        yield hit(
            f"ADD COLUMN {col(a.table, c.name)} DEFAULT {c.default} {_REWRITE.format(t=a.table)}, because {why.why}",
            f"add {c.name} without a default, then ALTER COLUMN {c.name} SET DEFAULT {c.default} "
            "(new rows only) and backfill existing rows in batches",
            act,
            severity=None if why.certain else "warning",
        )


@rule(
    "SM002",
    "add-column-serial-or-identity",
    "error",
    "Adding a serial or identity column rewrites the table",
    family="rewrite",
    kinds=("ALTER TABLE",),
)
def add_column_serial_or_identity(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ADD COLUMN … serial/bigserial/smallserial` and `ADD COLUMN … GENERATED … AS IDENTITY` on an
    existing table.

    ## Why is this bad
    Every existing row gets a value from the sequence, so the table and all its indexes are rewritten
    under ACCESS EXCLUSIVE (measured on PostgreSQL 15 and 18, both forms).

    ## Example
    ```sql
    ALTER TABLE events ADD COLUMN seq bigserial;
    ```

    ## Use instead
    ```sql
    CREATE SEQUENCE events_seq_seq;
    ALTER TABLE events ADD COLUMN seq bigint;
    ALTER TABLE events ALTER COLUMN seq SET DEFAULT nextval('events_seq_seq');  -- new rows only
    -- backfill the existing rows in batches, then ALTER SEQUENCE … OWNED BY events.seq
    ```

    ## Known problems
    None known.
    """
    for act, why in _add_column_rewrites(ctx, a, "serial", "identity"):
        yield hit(
            f"ADD COLUMN {col(a.table, act.column)} {_REWRITE.format(t=a.table)}, because {why.why}",
            "add a nullable bigint column, give it the sequence's nextval() as default for new rows, "
            "and backfill existing rows in batches",
            act,
        )


@rule(
    "SM003",
    "add-column-stored-generated",
    "error",
    "Adding a stored generated column rewrites the table",
    family="rewrite",
    kinds=("ALTER TABLE",),
)
def add_column_stored_generated(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ADD COLUMN … GENERATED ALWAYS AS (…) STORED` on an existing table. On PostgreSQL 18
    (`target_pg_version = 18`) a VIRTUAL generated column, the default kind there, is not flagged.

    ## Why is this bad
    The expression is computed and stored for every existing row: a full rewrite under ACCESS EXCLUSIVE.

    ## Example
    ```sql
    ALTER TABLE people ADD COLUMN full_name text GENERATED ALWAYS AS (first || ' ' || last) STORED;
    ```

    ## Use instead
    On PostgreSQL 18, a virtual column computes on read and needs no rewrite:
    ```sql
    ALTER TABLE people ADD COLUMN full_name text GENERATED ALWAYS AS (first || ' ' || last) VIRTUAL;
    ```
    Before 18: a plain column kept up to date by a trigger, backfilled in batches.

    ## Known problems
    None known.
    """
    for act, why in _add_column_rewrites(ctx, a, "generated"):
        alt = (
            "use VIRTUAL (PostgreSQL 18 computes it on read)"
            if ctx.pg >= 18
            else ("add a plain column kept current by a trigger, and backfill it in batches")
        )
        yield hit(f"ADD COLUMN {col(a.table, act.column)} {_REWRITE.format(t=a.table)}, because {why.why}", alt, act)


@rule(
    "SM004",
    "add-column-constrained-domain",
    "warning",
    "A column of a domain with a CHECK rewrites the table",
    family="rewrite",
    kinds=("ALTER TABLE",),
)
def add_column_constrained_domain(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ADD COLUMN x <domain> DEFAULT …` and `ALTER COLUMN x TYPE <domain>` on an existing table when
    the domain has a CHECK constraint (known from an earlier `CREATE DOMAIN … CHECK`).

    ## Why is this bad
    PostgreSQL checks the domain's constraint against every row, so even a constant default rewrites
    the table under ACCESS EXCLUSIVE (measured on 15 and 18). A domain without constraints is harmless.

    ## Example
    ```sql
    CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
    ALTER TABLE items ADD COLUMN qty positive_int DEFAULT 1;
    ```

    ## Use instead
    ```sql
    ALTER TABLE items ADD COLUMN qty integer DEFAULT 1;
    ALTER TABLE items ADD CONSTRAINT items_qty_positive CHECK (qty > 0) NOT VALID;
    -- next migration: ALTER TABLE items VALIDATE CONSTRAINT items_qty_positive;
    ```

    ## Known problems
    Only domains created in migrations sqlmig can read are known.
    """
    for act, why in _add_column_rewrites(ctx, a, "domain"):
        yield hit(
            f"ADD COLUMN {col(a.table, act.column)} {_REWRITE.format(t=a.table)}, because {why.why}",
            "use the domain's base type with a CHECK … NOT VALID constraint, validated later",
            act,
        )
    for act in alter_existing(ctx, a, "ALTER COLUMN TYPE"):
        base = postgres.parse_type(act.type or "").base
        if ctx.model.domain_has_check(base):
            yield hit(
                f"ALTER COLUMN {col(a.table, act.column)} TYPE {act.type} {_REWRITE.format(t=a.table)}, "
                f"because the domain {base} has a CHECK",
                "keep the base type and add a CHECK … NOT VALID",
                act,
            )


_MAYBE_CHEAP = {
    "text",
    "varchar",
    "numeric",
    "citext",
    "inet",
    "varbit",
    "timestamptz",
    "timestamp",
    "time",
    "timetz",
    "interval",
}


@rule(
    "SM005",
    "column-type-change-rewrite",
    "error",
    "A column type change that rewrites the table",
    family="rewrite",
    kinds=("ALTER TABLE",),
)
def column_type_change_rewrite(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ALTER COLUMN … TYPE` on an existing table unless the change is one PostgreSQL makes without
    a rewrite: `varchar(n)` to a longer `varchar` or to `text`, `text` to unbounded `varchar`,
    `numeric(p,s)` to `numeric(p'≥p,s)` or unbounded `numeric`, `cidr` to `inet`, a longer precision for
    `timestamp`/`time`/`interval`, and the same type without `USING`. The old type comes from the earlier
    migrations; when it is unknown and the new type could be a cheap change, this is a warning.

    ## Why is this bad
    A rewriting type change copies the table and rebuilds every index while holding ACCESS EXCLUSIVE
    (measured: int→bigint, text→varchar(n), json→jsonb, enum→text, any `USING`). It can also break clients
    that read the old type.

    ## Example
    ```sql
    ALTER TABLE orders ALTER COLUMN id TYPE bigint;
    ```

    ## Use instead
    Expand and contract: add the new column, write both (a trigger), backfill in batches, switch
    readers, then drop the old column in a later release.

    ## Known problems
    timestamp→timestamptz skips the rewrite only when the session TimeZone is UTC (PostgreSQL 12+);
    it is reported as a warning.
    """
    for act in alter_existing(ctx, a, "ALTER COLUMN TYPE"):
        old = ctx.model.column_type(a.table or "", act.column or "")
        rewrites = postgres.type_change_rewrites(old, act.type or "", using="USING" in act.flags, pg_version=ctx.pg)
        where = col(a.table, act.column)
        advice = "expand/contract: add a new column, dual-write, backfill in batches, switch readers, drop the old"
        if rewrites:
            was = f" (from {old})" if old else ""
            yield hit(f"ALTER COLUMN {where} TYPE {act.type}{was} {_REWRITE.format(t=a.table)}", advice, act)
        elif rewrites is None and old is not None:
            yield hit(
                f"ALTER COLUMN {where} TYPE {act.type} (from {old}) rewrites {a.table} under ACCESS "
                "EXCLUSIVE unless the session TimeZone is UTC",
                "SET LOCAL TimeZone = 'UTC' before it, or expand/contract",
                act,
                severity="warning",
            )
        elif rewrites is None:
            new_base = postgres.parse_type(act.type or "").base
            cheap = new_base in _MAYBE_CHEAP and "USING" not in act.flags
            yield hit(
                f"ALTER COLUMN {where} TYPE {act.type} {_REWRITE.format(t=a.table)}"
                + (" unless the old type converts without one (sqlmig does not know the old type)" if cheap else ""),
                advice,
                act,
                severity="warning" if cheap else None,
            )


@rule(
    "SM011",
    "column-type-change-cheap",
    "info",
    "A type change without rewrite still locks the table",
    family="rewrite",
    aliases=("sm005a",),
    kinds=("ALTER TABLE",),
)
def column_type_change_cheap(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports a type change PostgreSQL makes without a rewrite (catalogue id SM005a), such as widening a
    `varchar`. Warning when a CHECK constraint references the column.

    ## Why is this bad
    It still takes ACCESS EXCLUSIVE for a moment, so it must not queue behind a long transaction
    (lock_timeout). When a CHECK constraint references the column, PostgreSQL re-checks it against every
    row while holding that lock (measured).

    ## Example
    ```sql
    ALTER TABLE users ALTER COLUMN name TYPE varchar(200);   -- was varchar(100)
    ```

    ## Use instead
    Keep lock_timeout set (sqlmig sets it from the manifest or configuration). With a CHECK on the column:
    drop it, change the type, re-add it NOT VALID and VALIDATE it in a later migration.

    ## Known problems
    Needs the old type from earlier migrations; without it SM005 reports the change instead.
    """
    for act in alter_existing(ctx, a, "ALTER COLUMN TYPE"):
        old = ctx.model.column_type(a.table or "", act.column or "")
        if postgres.type_change_rewrites(old, act.type or "", using="USING" in act.flags, pg_version=ctx.pg):
            continue
        if old is None or postgres.type_change_rewrites(old, act.type or "", pg_version=ctx.pg) is None:
            continue
        where = col(a.table, act.column)
        if ctx.model.column_has_check(a.table or "", act.column or ""):
            yield hit(
                f"ALTER COLUMN {where} TYPE {act.type} needs no rewrite, but a CHECK on {act.column} is "
                f"re-checked against every row under ACCESS EXCLUSIVE",
                "drop the CHECK, change the type, re-add the CHECK NOT VALID and VALIDATE it later",
                act,
                severity="warning",
            )
        else:
            yield hit(
                f"ALTER COLUMN {where} TYPE {act.type} (from {old}) needs no rewrite; it takes ACCESS "
                "EXCLUSIVE briefly",
                None,
                act,
            )


@rule(
    "SM006",
    "set-not-null-scan",
    "error",
    "SET NOT NULL scans the table under ACCESS EXCLUSIVE",
    family="rewrite",
    kinds=("ALTER TABLE",),
)
def set_not_null_scan(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ALTER COLUMN … SET NOT NULL` (and PostgreSQL 18's `ADD CONSTRAINT … NOT NULL col` without
    NOT VALID) on an existing table, unless a validated `CHECK (col IS NOT NULL)` from an earlier
    statement or migration proves the column has no NULLs.

    ## Why is this bad
    PostgreSQL scans the whole table to prove there are no NULLs while holding ACCESS EXCLUSIVE.
    A NOT VALID check does not help; a validated one lets PostgreSQL 12+ skip the scan (measured).

    ## Example
    ```sql
    ALTER TABLE users ALTER COLUMN email SET NOT NULL;
    ```

    ## Use instead
    ```sql
    -- migration 1
    ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;
    -- migration 2 (SHARE UPDATE EXCLUSIVE: reads and writes go on)
    ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;
    -- migration 3 (no scan)
    ALTER TABLE users ALTER COLUMN email SET NOT NULL;
    ALTER TABLE users DROP CONSTRAINT users_email_not_null;
    ```

    ## Known problems
    Before PostgreSQL 12 the scan happens even with a validated check.
    """
    if a.kind != "ALTER TABLE" or not existing_table(ctx, a):
        return
    for act in a.actions:
        column = act.column
        if act.verb == "ADD CONSTRAINT" and act.constraint and act.constraint.kind == "NOT NULL":
            if act.constraint.not_valid:
                continue
            column = act.constraint.columns[0] if act.constraint.columns else None
        elif act.verb != "SET NOT NULL":
            continue
        if not postgres.set_not_null_scans(a.table or "", column or "", pg_version=ctx.pg, facts=ctx.model):
            continue
        yield hit(
            f"SET NOT NULL on {col(a.table, column)} scans all of {a.table} under ACCESS EXCLUSIVE "
            f"(no validated CHECK ({column} IS NOT NULL) proves it)",
            f"ADD CONSTRAINT … CHECK ({column} IS NOT NULL) NOT VALID; VALIDATE it in a later migration; "
            "then SET NOT NULL (no scan) and drop the check",
            act,
        )


_MISC = {
    "SET LOGGED": "SET LOGGED",
    "SET UNLOGGED": "SET UNLOGGED",
    "SET ACCESS METHOD": "SET ACCESS METHOD",
    "SET TABLESPACE": "SET TABLESPACE",
    "SET EXPRESSION": "SET EXPRESSION",
}


@rule(
    "SM007",
    "table-rewrite-misc",
    "warning",
    "A statement that rewrites the whole table",
    family="rewrite",
    kinds=("ALTER TABLE", "CLUSTER", "VACUUM"),
)
def table_rewrite_misc(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `SET LOGGED`, `SET UNLOGGED`, `SET ACCESS METHOD`, `SET TABLESPACE`, `ALTER COLUMN … SET
    EXPRESSION`, `CLUSTER` and `VACUUM FULL` on existing tables.

    ## Why is this bad
    Each rewrites the table (or copies its files) under ACCESS EXCLUSIVE, blocking reads and writes for
    as long as the copy takes (measured: SET LOGGED/UNLOGGED, SET EXPRESSION, CLUSTER).

    ## Example
    ```sql
    CLUSTER orders USING orders_created_idx;
    ```

    ## Use instead
    Keep them out of migrations: run pg_repack or pg_squeeze, which rebuild online (PostgreSQL 19 adds
    `REPACK (CONCURRENTLY)`).

    ## Known problems
    `SET ACCESS METHOD` to the table's current method does not rewrite; sqlmig cannot tell.
    """
    for act in alter_existing(ctx, a, *_MISC):
        yield hit(
            f"ALTER TABLE {a.table} {act.verb} {_REWRITE.format(t=a.table)}",
            "run pg_repack/pg_squeeze outside the migration instead",
            act,
        )
    heavy = a.kind == "CLUSTER" or (a.kind == "VACUUM" and "FULL" in a.flags)
    for table in a.objects if heavy else ():
        if not ctx.is_new(table):
            what = "CLUSTER" if a.kind == "CLUSTER" else "VACUUM FULL"
            yield hit(
                f"{what} {table} {_REWRITE.format(t=table)}",
                "use pg_repack or pg_squeeze, which rebuild the table online",
            )
