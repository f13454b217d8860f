"""Indexes: building, dropping and rebuilding them without blocking writes."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmig import ddl
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import Hit, rule
from sqlmig.lint.rules.common import hit, split_hint
from sqlmig.sql import Statement


def _index_name(a: ddl.Anatomy) -> str:
    return a.object or f"(unnamed) on {a.table}"


@rule(
    "SM050",
    "create-index-not-concurrent",
    "error",
    "CREATE INDEX without CONCURRENTLY blocks writes",
    family="index",
    kinds=("CREATE INDEX",),
)
def create_index_not_concurrent(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `CREATE [UNIQUE] INDEX` without `CONCURRENTLY` on a table that was not created earlier in the
    same file (a new table is empty and invisible to others, so a plain build is right there).

    ## Why is this bad
    The build holds SHARE on the table for its whole duration: every INSERT, UPDATE and DELETE waits
    (measured). On a large table that is minutes of failed writes.

    ## Example
    ```sql
    CREATE INDEX orders_user_idx ON orders (user_id);
    ```

    ## Use instead
    ```sql
    -- a migration of its own, with `transaction: none` in its manifest
    CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_idx ON orders (user_id);
    ```

    ## Known problems
    A partitioned parent is SM055's business (CONCURRENTLY is not supported there).
    """
    if a.kind != "CREATE INDEX" or "CONCURRENTLY" in a.flags or not a.table or ctx.is_new(a.table):
        return
    if ctx.model.is_partitioned(a.table) or "ONLY" in a.flags:
        return
    yield hit(
        f"CREATE INDEX {_index_name(a)} holds SHARE on {a.table} for the whole build (blocks writes)",
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {a.object or '<name>'} … {split_hint(ctx)}",
    )


@rule(
    "SM051",
    "drop-index-not-concurrent",
    "warning",
    "DROP INDEX without CONCURRENTLY locks the table",
    family="index",
    kinds=("DROP INDEX",),
)
def drop_index_not_concurrent(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `DROP INDEX` without `CONCURRENTLY` of an index that was not created earlier in the same file.

    ## Why is this bad
    It takes ACCESS EXCLUSIVE on the index's table (measured): reads and writes wait behind it, and
    everything queues behind it while it waits for a long transaction.

    ## Example
    ```sql
    DROP INDEX orders_user_idx;
    ```

    ## Use instead
    ```sql
    DROP INDEX CONCURRENTLY IF EXISTS orders_user_idx;   -- transaction: none
    ```

    ## Known problems
    None known.
    """
    if a.kind != "DROP INDEX" or "CONCURRENTLY" in a.flags:
        return
    for name in a.objects:
        table = ctx.model.index_table(name)
        if ctx.is_new(name) or (table and ctx.is_new(table)):
            continue
        on = f" on {table}" if table else ""
        yield hit(
            f"DROP INDEX {name} takes ACCESS EXCLUSIVE on its table{on} (blocks reads and writes)",
            f"DROP INDEX CONCURRENTLY IF EXISTS {name} {split_hint(ctx)}",
        )


@rule(
    "SM052",
    "reindex-not-concurrent",
    "warning",
    "REINDEX without CONCURRENTLY blocks the table",
    family="index",
    kinds=("REINDEX",),
)
def reindex_not_concurrent(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `REINDEX INDEX/TABLE` without `CONCURRENTLY`.

    ## Why is this bad
    It holds SHARE on the table (writes wait) and ACCESS EXCLUSIVE on each index being rebuilt; since the
    planner locks every index of a table, almost every query on the table waits too (measured).

    ## Example
    ```sql
    REINDEX INDEX orders_user_idx;
    ```

    ## Use instead
    ```sql
    REINDEX INDEX CONCURRENTLY orders_user_idx;   -- PostgreSQL 12+, transaction: none
    ```

    ## Known problems
    None known.
    """
    scoped = a.flags & {"INDEX", "TABLE"}
    if a.kind == "REINDEX" and "CONCURRENTLY" not in a.flags and scoped and not ctx.is_new(a.object):
        scope = "INDEX" if "INDEX" in a.flags else "TABLE"
        yield hit(
            f"REINDEX {scope} {a.object} blocks writes to the table and most reads for the rebuild",
            f"REINDEX {scope} CONCURRENTLY {a.object} (PostgreSQL 12+) {split_hint(ctx)}",
        )


@rule(
    "SM053",
    "cic-leaves-invalid-index",
    "warning",
    "A failed CREATE INDEX CONCURRENTLY leaves an invalid index",
    family="index",
    kinds=("CREATE INDEX",),
)
def cic_leaves_invalid_index(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `CREATE INDEX CONCURRENTLY` without an explicit index name, and `CREATE INDEX CONCURRENTLY IF NOT
    EXISTS i` with no `DROP INDEX CONCURRENTLY IF EXISTS i` before it and no manifest `verify` query that
    checks `pg_index.indisvalid`.

    ## Why is this bad
    A concurrent build that fails (a deadlock, a duplicate key, a cancel) leaves an INVALID index behind
    under its name. On the retry, `IF NOT EXISTS` sees the name and "succeeds": the index stays invalid,
    unused by queries but still maintained on every write. Without a name, a retry builds a second index.

    ## Example
    ```sql
    CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_idx ON orders (user_id);
    ```

    ## Use instead
    ```sql
    DROP INDEX CONCURRENTLY IF EXISTS orders_user_idx;   -- removes a leftover invalid build
    CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_idx ON orders (user_id);
    ```
    or keep the one statement and add to the manifest:
    `verify: SELECT indisvalid FROM pg_index WHERE indexrelid = 'orders_user_idx'::regclass`

    ## Known problems
    None known.
    """
    if a.kind != "CREATE INDEX" or "CONCURRENTLY" not in a.flags:
        return
    if not a.object:
        yield hit(
            f"CREATE INDEX CONCURRENTLY on {a.table} has no name: a retry after a failed build creates a "
            "second index beside the invalid one",
            "name the index explicitly",
        )
        return
    if "IF NOT EXISTS" not in a.flags:
        return
    if ctx.earlier(("DROP INDEX",), a.object) is not None:
        return
    verify = " ".join(getattr(ctx.manifest, "verify", ()) or ()).lower()
    if "indisvalid" in verify:
        return
    yield hit(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {a.object}: after a failed build, a retry finds the "
        "invalid index by name and silently keeps it",
        f"DROP INDEX CONCURRENTLY IF EXISTS {a.object} first, "
        f"or a manifest verify: SELECT indisvalid FROM pg_index WHERE indexrelid = '{a.object}'::regclass",
    )


@rule(
    "SM054",
    "cic-pg14-corruption",
    "warning",
    "Concurrent index builds corrupt indexes on PostgreSQL 14.0–14.3",
    family="index",
    kinds=("CREATE INDEX", "REINDEX"),
)
def cic_pg14_corruption(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    With `target_pg_version = 14`, flags `CREATE INDEX CONCURRENTLY` and `REINDEX … CONCURRENTLY`.

    ## Why is this bad
    PostgreSQL 14.0 to 14.3 can build a concurrent index that silently misses rows (fixed in 14.4).

    ## Example
    ```sql
    CREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);   -- on 14.2
    ```

    ## Use instead
    Upgrade to 14.4 or later before building indexes concurrently.

    ## Known problems
    sqlmig knows only the major version, so 14.4+ servers get this warning too: suppress it in the file
    with the reason, or disable the rule in the configuration.
    """
    if ctx.pg == 14 and "CONCURRENTLY" in a.flags and a.kind in ("CREATE INDEX", "REINDEX"):
        yield hit(
            f"{a.kind} CONCURRENTLY can silently corrupt the index on PostgreSQL 14.0–14.3",
            "make sure the server runs 14.4 or later",
        )


@rule(
    "SM055",
    "cic-on-partitioned-parent",
    "error",
    "An index on a partitioned table built the blocking way",
    family="index",
    kinds=("CREATE INDEX",),
)
def cic_on_partitioned_parent(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `CREATE INDEX CONCURRENTLY` on a partitioned table (known from an earlier `PARTITION BY`), and a
    plain `CREATE INDEX` on one without `ON ONLY`.

    ## Why is this bad
    CONCURRENTLY fails there ("cannot create index on partitioned table … concurrently"); a plain build
    takes SHARE on the parent and on every partition, blocking writes to all of them (measured).

    ## Example
    ```sql
    CREATE INDEX measurements_device_idx ON measurements (device_id);
    ```

    ## Use instead
    ```sql
    CREATE INDEX measurements_device_idx ON ONLY measurements (device_id);    -- invalid until attached
    CREATE INDEX CONCURRENTLY measurements_2026_device_idx ON measurements_2026 (device_id);
    ALTER INDEX measurements_device_idx ATTACH PARTITION measurements_2026_device_idx;
    ```

    ## Known problems
    Only tables created with PARTITION BY in migrations sqlmig can read are known to be partitioned.
    """
    if a.kind != "CREATE INDEX" or not a.table or ctx.is_new(a.table) or not ctx.model.is_partitioned(a.table):
        return
    if "CONCURRENTLY" in a.flags:
        yield hit(
            f"CREATE INDEX CONCURRENTLY on the partitioned table {a.table} fails: PostgreSQL does not support it",
            "CREATE INDEX … ON ONLY the parent, CONCURRENTLY on each partition, then ALTER INDEX … ATTACH PARTITION",
        )
    elif "ONLY" not in a.flags:
        yield hit(
            f"CREATE INDEX on the partitioned table {a.table} takes SHARE on it and on every partition "
            "(blocks writes to all of them)",
            "CREATE INDEX … ON ONLY the parent, CONCURRENTLY on each partition, then ALTER INDEX … ATTACH PARTITION",
        )


@rule(
    "SM056",
    "wide-non-unique-index",
    "info",
    "A non-unique index with more than three columns",
    family="index",
    default=False,
    kinds=("CREATE INDEX",),
)
def wide_non_unique_index(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports a non-unique index on more than three columns (opt-in).

    ## Why is this bad
    Wide indexes rarely help more than their first columns do, and every write pays for them.

    ## Example
    ```sql
    CREATE INDEX orders_wide_idx ON orders (a, b, c, d);
    ```

    ## Use instead
    Fewer, more selective columns; `INCLUDE (…)` for covering columns.

    ## Known problems
    None known.
    """
    if a.kind == "CREATE INDEX" and "UNIQUE" not in a.flags and len(a.targets) > 3:
        yield hit(f"index {_index_name(a)} has {len(a.targets)} columns", "index fewer, more selective columns")
