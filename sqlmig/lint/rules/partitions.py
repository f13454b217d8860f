"""Partitions, materialized views, TRUNCATE, sequences and explicit LOCK."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmig import ddl
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import Hit, rule
from sqlmig.lint.rules.common import alter_existing, hit, split_hint
from sqlmig.sql import Statement


@rule(
    "SM070",
    "create-partition-locks-parent",
    "warning",
    "CREATE TABLE … PARTITION OF locks the parent",
    family="partition",
    kinds=("CREATE TABLE",),
)
def create_partition_locks_parent(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `CREATE TABLE … PARTITION OF parent` when the parent existed before this file.

    ## Why is this bad
    It takes ACCESS EXCLUSIVE on the parent (measured on 15 and 18): every query on the partitioned
    table waits while it queues and runs.

    ## Example
    ```sql
    CREATE TABLE measurements_2027 PARTITION OF measurements FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
    ```

    ## Use instead
    ```sql
    CREATE TABLE measurements_2027 (LIKE measurements INCLUDING ALL);
    ALTER TABLE measurements_2027 ADD CONSTRAINT m2027_bound
      CHECK (ts >= '2027-01-01' AND ts < '2028-01-01');
    ALTER TABLE measurements ATTACH PARTITION measurements_2027
      FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');   -- SHARE UPDATE EXCLUSIVE on the parent
    ```

    ## Known problems
    None known.
    """
    if a.kind == "CREATE TABLE" and a.parent and not ctx.is_new(a.parent):
        yield hit(
            f"CREATE TABLE {a.object} PARTITION OF {a.parent} takes ACCESS EXCLUSIVE on {a.parent} "
            "(blocks reads and writes of every partition)",
            "create it standalone (LIKE … INCLUDING ALL) "
            "with a CHECK matching the bound, then ATTACH PARTITION (SHARE UPDATE EXCLUSIVE)",
        )


@rule(
    "SM071",
    "attach-partition-scan",
    "warning",
    "ATTACH PARTITION scans the partition under ACCESS EXCLUSIVE",
    family="partition",
    kinds=("ALTER TABLE",),
)
def attach_partition_scan(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ALTER TABLE parent ATTACH PARTITION p` when `p` existed before this file and has no validated
    CHECK constraint (one that matches the partition bound lets PostgreSQL skip the scan).

    ## Why is this bad
    PostgreSQL scans the partition to prove every row fits the bound, holding ACCESS EXCLUSIVE on it
    (the parent only gets SHARE UPDATE EXCLUSIVE since PostgreSQL 12). A DEFAULT partition is scanned too.

    ## Example
    ```sql
    ALTER TABLE measurements ATTACH PARTITION measurements_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
    ```

    ## Use instead
    Add a CHECK matching the bound NOT VALID, VALIDATE it in a later migration, then ATTACH (no scan),
    then drop the CHECK.

    ## Known problems
    Any validated CHECK on the partition is taken as the matching one.
    """
    for act in alter_existing(ctx, a, "ATTACH PARTITION"):
        part = act.name or ""
        t = ctx.model.table(part)
        if ctx.is_new(part) or (t is not None and any(c.valid for c in t.checks if "not null" not in c.name)):
            continue
        yield hit(
            f"ATTACH PARTITION {part} scans {part} under ACCESS EXCLUSIVE to check the partition bound",
            "add a CHECK matching the bound NOT VALID, VALIDATE it in a later migration, then ATTACH",
            act,
        )


@rule(
    "SM072",
    "detach-partition-not-concurrent",
    "warning",
    "DETACH PARTITION without CONCURRENTLY",
    family="partition",
    kinds=("ALTER TABLE",),
)
def detach_partition_not_concurrent(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ALTER TABLE parent DETACH PARTITION p` without `CONCURRENTLY`.

    ## Why is this bad
    It takes ACCESS EXCLUSIVE on the parent and on the partition (measured).

    ## Example
    ```sql
    ALTER TABLE measurements DETACH PARTITION measurements_2020;
    ```

    ## Use instead
    ```sql
    ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;   -- 14+, transaction: none
    ```

    ## Known problems
    CONCURRENTLY is refused when the table has a DEFAULT partition.
    """
    for act in alter_existing(ctx, a, "DETACH PARTITION"):
        if "CONCURRENTLY" not in act.flags and "FINALIZE" not in act.flags:
            yield hit(
                f"DETACH PARTITION {act.name} takes ACCESS EXCLUSIVE on {a.table} and {act.name}",
                f"DETACH PARTITION … CONCURRENTLY (PostgreSQL 14+) {split_hint(ctx)}",
                act,
            )


@rule(
    "SM073",
    "refresh-matview-blocking",
    "warning",
    "REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks reads",
    family="partition",
    kinds=("REFRESH MATERIALIZED VIEW",),
)
def refresh_matview_blocking(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `REFRESH MATERIALIZED VIEW` without `CONCURRENTLY` of a view that existed before this file.

    ## Why is this bad
    It rebuilds the view under ACCESS EXCLUSIVE: reads of the view wait until the refresh ends (measured).

    ## Example
    ```sql
    REFRESH MATERIALIZED VIEW sales_summary;
    ```

    ## Use instead
    ```sql
    REFRESH MATERIALIZED VIEW CONCURRENTLY sales_summary;   -- EXCLUSIVE: reads go on; needs a unique index
    ```

    ## Known problems
    None known.
    """
    if a.kind == "REFRESH MATERIALIZED VIEW" and "CONCURRENTLY" not in a.flags and not ctx.is_new(a.object):
        yield hit(
            f"REFRESH MATERIALIZED VIEW {a.object} takes ACCESS EXCLUSIVE on it (blocks reads)",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view)",
        )


@rule(
    "SM074",
    "truncate",
    "warning",
    "TRUNCATE empties the table under ACCESS EXCLUSIVE",
    family="partition",
    kinds=("TRUNCATE",),
)
def truncate(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `TRUNCATE` of an existing table; an error with `CASCADE`.

    ## Why is this bad
    It removes every row under ACCESS EXCLUSIVE. CASCADE also empties every table that references it,
    which the statement does not name.

    ## Example
    ```sql
    TRUNCATE sessions CASCADE;
    ```

    ## Use instead
    Usually no TRUNCATE in a migration at all; when needed, name every table explicitly.

    ## Known problems
    None known.
    """
    if a.kind != "TRUNCATE":
        return
    tables = [t for t in a.objects if not ctx.is_new(t)]
    if not tables:
        return
    if "CASCADE" in a.flags:
        yield hit(
            f"TRUNCATE {', '.join(tables)} CASCADE also empties every table that references them",
            "name every table to empty explicitly, without CASCADE",
            severity="error",
        )
    else:
        yield hit(
            f"TRUNCATE removes every row of {', '.join(tables)} under ACCESS EXCLUSIVE",
            "keep data removal out of schema migrations",
        )


@rule(
    "SM075",
    "sequence-reset",
    "info",
    "ALTER SEQUENCE changes the ids clients get",
    family="partition",
    kinds=("ALTER SEQUENCE",),
)
def sequence_reset(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `ALTER SEQUENCE … RESTART / START / INCREMENT / MINVALUE / MAXVALUE` of an existing sequence.

    ## Why is this bad
    It takes SHARE ROW EXCLUSIVE and gives the sequence a new relfilenode (measured), and changes the
    values clients get: a RESTART below the current maximum produces duplicate keys.

    ## Example
    ```sql
    ALTER SEQUENCE orders_id_seq RESTART WITH 1;
    ```

    ## Use instead
    Review it; `setval()` to a value above the current maximum is the usual intent.

    ## Known problems
    None known.
    """
    words = set(ddl.words(stmt))
    if (
        a.kind == "ALTER SEQUENCE"
        and not ctx.is_new(a.object)
        and words & {"RESTART", "START", "INCREMENT", "MINVALUE", "MAXVALUE"}
    ):
        yield hit(f"ALTER SEQUENCE {a.object} changes the values it hands out", "make sure no existing id collides")


@rule("SM076", "explicit-lock-table", "info", "An explicit LOCK TABLE", family="partition", kinds=("LOCK",))
def explicit_lock_table(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `LOCK TABLE` (default mode ACCESS EXCLUSIVE); an error in a migration that runs without a
    transaction, where PostgreSQL refuses it.

    ## Why is this bad
    It blocks on purpose, for as long as the transaction lasts.

    ## Example
    ```sql
    LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;
    ```

    ## Use instead
    Keep lock_timeout set and the transaction short.

    ## Known problems
    None known.
    """
    if a.kind != "LOCK":
        return
    if ctx.manifest is not None and not ctx.manifest.transactional:
        yield hit(
            "LOCK TABLE fails outside a transaction block (this migration has transaction: none)",
            "move it to a transactional migration",
            severity="error",
        )
        return
    yield hit(
        f"LOCK TABLE {', '.join(a.objects)} takes {a.detail} until commit",
        "keep lock_timeout set and the transaction short",
    )
