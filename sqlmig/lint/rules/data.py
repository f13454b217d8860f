"""Data-dependent changes (pass on an empty dev database, fail on production data) and data changes in migrations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlmig import ddl, postgres
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import Hit, rule
from sqlmig.lint.rules.common import alter_existing, col, existing_table, hit
from sqlmig.sql import Statement, parse_statement


@rule(
    "SM250",
    "add-required-column",
    "error",
    "ADD COLUMN … NOT NULL without a default fails on existing rows",
    family="data",
    kinds=("ALTER TABLE",),
)
def add_required_column(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ADD COLUMN … NOT NULL` without a DEFAULT (and not an identity, serial or generated column) on
    a table that existed before this file.

    ## Why is this bad
    On any table with rows it fails: `column "x" … contains null values` (measured), though it passes on
    an empty development database. Inserts from the running application, which does not know the
    column, would fail too.

    ## Example
    ```sql
    ALTER TABLE users ADD COLUMN plan text NOT NULL;
    ```

    ## Use instead
    ```sql
    ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';   -- a constant: no rewrite (11+)
    ```
    or a nullable column, a batched backfill, then SET NOT NULL without a scan (SM006).

    ## Known problems
    None known.
    """
    for act in alter_existing(ctx, a, "ADD COLUMN"):
        c = act.coldef
        if c is None or not c.not_null or c.primary_key or c.generated:
            continue
        if c.default is None and postgres.parse_type(c.type).base not in postgres.SERIAL_TYPES:
            yield hit(
                f"ADD COLUMN {col(a.table, c.name)} NOT NULL without a default fails on a table that has rows",
                "give it a constant DEFAULT, or add it nullable, backfill, then SET NOT NULL safely",
                act,
            )


@rule(
    "SM251",
    "unique-on-existing-data",
    "info",
    "A uniqueness check on existing rows may fail on duplicates",
    family="data",
    kinds=("CREATE INDEX", "ALTER TABLE"),
)
def unique_on_existing_data(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `CREATE UNIQUE INDEX` (concurrent or not) and `ADD UNIQUE` / `ADD PRIMARY KEY` on columns of
    a table that existed before this file.

    ## Why is this bad
    It fails when production has duplicates that development does not; a failed concurrent build also
    leaves an INVALID index behind (SM053).

    ## Example
    ```sql
    CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (lower(email));
    ```

    ## Use instead
    Check for duplicates first (`SELECT lower(email) FROM users GROUP BY 1 HAVING count(*) > 1`) and
    dedupe in an earlier migration.

    ## Known problems
    None known.
    """
    if a.kind == "CREATE INDEX" and "UNIQUE" in a.flags and existing_table(ctx, a):
        yield hit(
            f"unique index {a.object or ''} on {a.table} fails if {a.table} already has duplicates",
            "check for duplicates before the migration",
        )
    for act in alter_existing(ctx, a, "ADD CONSTRAINT"):
        k = act.constraint
        if k and k.kind in ("UNIQUE", "PRIMARY KEY") and k.using_index is None:
            yield hit(
                f"{k.kind} on {a.table} ({', '.join(k.columns)}) fails if existing rows have duplicates",
                "check for duplicates before the migration",
                act,
            )


@rule("SM252", "not-null-may-fail", "info", "SET NOT NULL fails if NULLs exist", family="data", kinds=("ALTER TABLE",))
def not_null_may_fail(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `SET NOT NULL` on a column of an existing table, unless an UPDATE earlier in the same file
    sets that column.

    ## Why is this bad
    It fails if production still has NULLs in the column, which an empty development database never shows.

    ## Example
    ```sql
    ALTER TABLE users ALTER COLUMN plan SET NOT NULL;
    ```

    ## Use instead
    Backfill first, and check `SELECT count(*) FROM users WHERE plan IS NULL` (a manifest `verify:` on the
    backfill migration does it for you).

    ## Known problems
    None known.
    """
    for act in alter_existing(ctx, a, "SET NOT NULL"):
        if ctx.earlier(("UPDATE", act.column), a.table) is None:  # not backfilled earlier in the file
            yield hit(
                f"SET NOT NULL on {col(a.table, act.column)} fails if any row still has NULL there",
                "backfill and verify there are no NULLs first",
                act,
            )


_INT_RANK = {"smallint": 1, "smallserial": 1, "integer": 2, "serial": 2, "bigint": 3, "bigserial": 3}
_TEXTUAL = {"text", "varchar", "char", "citext"}


def narrowing(old: str, new: str) -> str | None:
    """Why a type change may fail or lose data (None when it only widens or keeps)."""
    o, n = postgres.parse_type(old), postgres.parse_type(new)
    if o.base in _INT_RANK and n.base in _INT_RANK and _INT_RANK[n.base] < _INT_RANK[o.base]:
        return f"{n.base} holds smaller values than {o.base}"
    shorter = n.args and (not o.args or int(n.args[0]) < int(o.args[0]))
    if o.base in _TEXTUAL and n.base in ("varchar", "char") and shorter:
        return f"values longer than {n.args[0]} characters fail"
    if o.base == n.base == "numeric" and n.args:
        old_ps = [int(x) for x in o.args] + [0] if o.args else None
        new_ps = [int(x) for x in n.args] + [0]
        if old_ps is None or new_ps[0] < old_ps[0] or new_ps[1] < old_ps[1]:
            return f"numeric({','.join(n.args)}) rounds or rejects values that fit {o}"
    if o.base in _TEXTUAL and n.base not in _TEXTUAL:
        return f"text that does not parse as {n.base} fails the cast"
    return None


@rule(
    "SM253",
    "narrowing-type-change",
    "warning",
    "A type change that may fail or truncate existing values",
    family="data",
    kinds=("ALTER TABLE",),
)
def narrowing_type_change(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ALTER COLUMN … TYPE` to a narrower type than the column has (known from earlier migrations):
    a shorter varchar, text to `varchar(n)`, less numeric precision or scale, bigint to integer, text
    to a non-text type.

    ## Why is this bad
    It fails on production values that do not fit (or, for numeric scale, silently rounds them), and it
    rewrites the table (SM005).

    ## Example
    ```sql
    ALTER TABLE users ALTER COLUMN country TYPE varchar(2);   -- was text
    ```

    ## Use instead
    Check `SELECT max(length(country)) FROM users` first, or expand/contract.

    ## Known problems
    None known.
    """
    for act in alter_existing(ctx, a, "ALTER COLUMN TYPE"):
        old = ctx.model.column_type(a.table or "", act.column or "")
        why = narrowing(old, act.type or "") if old else None
        if why:
            yield hit(
                f"ALTER COLUMN {col(a.table, act.column)} TYPE {act.type} (from {old}) may fail: {why}",
                "check the existing values first, or expand/contract",
                act,
            )


_KEYISH = ("id", "uuid", "key", "code", "slug", "name", "email")
_KEY_SUFFIXES = ("_id", "_uuid", "_key", "_code", "_name", "_slug")


def bounded(tree: Any) -> bool:
    """Whether an UPDATE/DELETE's WHERE limits it to a key range, a few keys, or a LIMITed subquery."""
    from sqlglot import exp

    if tree.find(exp.Limit):
        return True
    where = tree.args.get("where")
    if where is None:
        return False
    lows, highs = set(), set()
    for c in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        if isinstance(c, exp.Between):
            return True
        column = c.this if isinstance(getattr(c, "this", None), exp.Column) else None
        if isinstance(c, exp.EQ | exp.In) and column is not None:
            key = column.name.lower()
            literal = (
                isinstance(c.expression, exp.Literal | exp.Placeholder)
                if isinstance(c, exp.EQ)
                else (bool(c.expressions) and all(isinstance(e, exp.Literal) for e in c.expressions))
            )
            if literal and (key in _KEYISH or key.endswith(_KEY_SUFFIXES)):
                return True
        if isinstance(c, exp.GT | exp.GTE) and column is not None:
            lows.add(column.name.lower())
        if isinstance(c, exp.LT | exp.LTE) and column is not None:
            highs.add(column.name.lower())
    return bool(lows & highs)


@rule(
    "SM300",
    "unbatched-backfill",
    "warning",
    "An UPDATE or DELETE over a whole existing table in one transaction",
    family="data",
    tree=True,
    kinds=("UPDATE", "DELETE"),
)
def unbatched_backfill(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `UPDATE t SET …` (and `DELETE FROM t WHERE …`) on a table that existed before this file when its
    WHERE does not bound it to a key range (`id BETWEEN …`, `id >= … AND id < …`), to a few keys
    (`id = 7`, `code IN ('a','b')`), or to a LIMITed subquery; unless the manifest's `batch:` names the table.

    ## Why is this bad
    One statement over a large table is one huge transaction: row locks on every row it touches until it
    ends, a WAL spike that replicas lag behind, and bloat. strong_migrations documents this and does not
    detect it.

    ## Example
    ```sql
    UPDATE users SET plan = 'free' WHERE plan IS NULL;
    ```

    ## Use instead
    A migration of its own with a `batch:` in the manifest (table, key, size): sqlmig runs the statement
    in key-range batches, each committed, adapting the batch size and throttling on replication lag.

    ## Known problems
    Table size is unknown to lint: a small table gets the warning too (suppress it with the reason).
    Needs sqlglot's parse tree; statements sqlglot cannot parse are skipped (`--verbose` says so).
    """
    if a.kind not in ("UPDATE", "DELETE") or not a.table or ctx.is_new(a.table):
        return
    if a.kind == "DELETE" and "WHERE" not in a.flags:
        return  # SM234
    batch = getattr(ctx.manifest, "batch", None)
    if batch is not None and ddl.same_name(batch.table, a.table):
        return
    if bounded(parse_statement(stmt.text)):
        return
    scope = "every row" if "WHERE" not in a.flags else "an unbounded set of rows"
    yield hit(
        f"{a.kind} {a.table} touches {scope} in one transaction: row locks, WAL and bloat for the whole table",
        f"run it as a batched migration: batch: {{table: {a.table}, key: id}} in its manifest",
    )


@rule(
    "SM301",
    "dml-with-ddl-same-tx",
    "error",
    "UPDATE/DELETE on a table this transaction locked for DDL",
    family="data",
    kinds=("UPDATE", "DELETE"),
)
def dml_with_ddl_same_tx(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags an UPDATE or DELETE on an existing table after a statement in the same transaction that took a
    strong lock on it (an ALTER TABLE, a CREATE INDEX, …).

    ## Why is this bad
    The DDL's lock is held until COMMIT, so the table stays blocked for the whole data change.

    ## Example
    ```sql
    ALTER TABLE users ADD COLUMN plan text;
    UPDATE users SET plan = 'free';
    ```

    ## Use instead
    Split them: the DDL in one migration (phase: expand), the backfill in the next (phase: migrate, with
    `batch:`).

    ## Known problems
    None known.
    """
    if a.kind not in ("UPDATE", "DELETE") or not ctx.transactional or not a.table or ctx.is_new(a.table):
        return
    for held in ctx.held_locks(a.table)[:1]:
        mode = held.effect.mode
        yield hit(
            f"{a.kind} {a.table} runs while the {mode} lock from line {held.stmt.line} is held until "
            f"COMMIT (blocks {postgres.blocks(mode)} for the whole {a.kind.lower()})",
            "split the DDL and the data change into separate migrations",
        )
