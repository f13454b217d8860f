"""Destructive statements: what loses data or removes what running code relies on.

Not reported for a rollback statement that undoes the forward migration (SM501), nor for an object
created earlier in the same file.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlmig import ddl
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import Hit, rule
from sqlmig.lint.rules.common import alter_existing, hit
from sqlmig.sql import Statement


def _recreated_later(ctx: FileContext, kind: str, name: str) -> bool:
    """`DROP VIEW v; CREATE VIEW v …` in one file replaces the object rather than removing it."""
    return ctx.later((kind.replace("DROP", "CREATE", 1),), name) is not None


@rule("SM230", "drop-table", "error", "DROP TABLE loses the table's data", family="destructive", kinds=("DROP TABLE",))
def drop_table(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `DROP TABLE` of a table that existed before this file, unless the migration's manifest declares
    a `point_of_no_return` (the acknowledged data loss).

    ## Why is this bad
    The data is gone, and code that still queries the table breaks.

    ## Example
    ```sql
    DROP TABLE audit_log;
    ```

    ## Use instead
    Rename it to `audit_log_deprecated` first and drop it in a later release, or declare the
    `point_of_no_return` in the manifest with the reason (and `backup: required`).

    ## Known problems
    None known.
    """
    if a.kind != "DROP TABLE" or getattr(ctx.manifest, "point_of_no_return", None) is not None:
        return
    for name in a.objects:
        if not ctx.is_new(name) and not _recreated_later(ctx, a.kind, name):
            yield hit(
                f"DROP TABLE {name} destroys its data, and running code that uses it breaks",
                "rename it first and drop it in a later release, or declare point_of_no_return in the manifest",
            )


@rule(
    "SM231",
    "drop-schema-database-extension",
    "warning",
    "DROP SCHEMA, DATABASE or EXTENSION",
    family="destructive",
    kinds=("DROP SCHEMA", "DROP DATABASE", "DROP EXTENSION"),
)
def drop_schema_database_extension(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `DROP SCHEMA`, `DROP DATABASE` and `DROP EXTENSION`; an error with `CASCADE`.

    ## Why is this bad
    Everything inside goes with it: an extension drop removes its types and functions, and CASCADE every
    column and view that uses them.

    ## Example
    ```sql
    DROP EXTENSION pg_trgm CASCADE;
    ```

    ## Use instead
    Do it by hand, outside migrations, after checking what depends on it.

    ## Known problems
    None known.
    """
    if a.kind in ("DROP SCHEMA", "DROP DATABASE", "DROP EXTENSION") and not ctx.is_new(a.object):
        cascade = "CASCADE" in a.flags
        yield hit(
            f"{a.kind} {', '.join(a.objects)}{' CASCADE' if cascade else ''} removes everything in it"
            + (" and everything that depends on it" if cascade else ""),
            "do it by hand, outside migrations",
            severity="error" if cascade else None,
        )


_OTHER_DROPS = {
    "DROP VIEW",
    "DROP MATERIALIZED VIEW",
    "DROP FUNCTION",
    "DROP PROCEDURE",
    "DROP TYPE",
    "DROP DOMAIN",
    "DROP SEQUENCE",
    "DROP POLICY",
    "DROP TRIGGER",
}


@rule(
    "SM232",
    "drop-other-objects",
    "warning",
    "Dropping a view, function, type, sequence, policy or trigger",
    family="destructive",
    kinds=tuple(_OTHER_DROPS),
)
def drop_other_objects(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `DROP VIEW / MATERIALIZED VIEW / FUNCTION / PROCEDURE / TYPE / DOMAIN / SEQUENCE / POLICY /
    TRIGGER` of an object that existed before this file and is not created again later in the file,
    unless the migration's manifest says `phase: contract` (no running code uses it any more).

    ## Why is this bad
    Code that uses the object breaks, or behaviour silently changes (a trigger, a policy).

    ## Example
    ```sql
    DROP FUNCTION order_total(bigint);
    ```

    ## Use instead
    Remove its uses and deploy first; review that nothing else depends on it.

    ## Known problems
    Dropping an index is not reported here (it breaks nothing); see SM051 for its lock.
    """
    if a.kind not in _OTHER_DROPS or getattr(ctx.manifest, "phase", None) == "contract":
        return
    for name in a.objects:
        if not ctx.is_new(name) and not _recreated_later(ctx, a.kind, name):
            yield hit(f"{a.kind} {name}: code or behaviour that relies on it breaks", "remove its uses first")


@rule(
    "SM233",
    "drop-constraint",
    "warning",
    "DROP CONSTRAINT removes a guarantee",
    family="destructive",
    kinds=("ALTER TABLE",),
)
def drop_constraint(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `DROP CONSTRAINT` on an existing table, unless the same constraint is added again later in the file.

    ## Why is this bad
    The guarantee (uniqueness, a reference, a check) is gone, and code may rely on it. For the lock a
    foreign key drop takes on both tables, see SM036.

    ## Example
    ```sql
    ALTER TABLE users DROP CONSTRAINT users_email_key;
    ```

    ## Use instead
    Review what relies on it.

    ## Known problems
    None known.
    """
    for act in alter_existing(ctx, a, "DROP CONSTRAINT"):
        if ctx.later(("ADD CONSTRAINT",), act.name) is None:  # not added again later in the file
            yield hit(
                f"DROP CONSTRAINT {act.name} on {a.table} removes a guarantee code may rely on",
                "review what relies on it",
                act,
            )


@rule(
    "SM234",
    "delete-without-where",
    "error",
    "DELETE without WHERE removes every row",
    family="destructive",
    kinds=("DELETE",),
)
def delete_without_where(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `DELETE FROM t` with no WHERE on a table that existed before this file.

    ## Why is this bad
    Every row goes, in one transaction that locks every row and writes WAL for all of them.

    ## Example
    ```sql
    DELETE FROM sessions;
    ```

    ## Use instead
    Delete what you mean in bounded batches (a `batch:` migration), or TRUNCATE if emptying is the intent.

    ## Known problems
    None known.
    """
    if a.kind == "DELETE" and "WHERE" not in a.flags and a.table and not ctx.is_new(a.table):
        yield hit(
            f"DELETE FROM {a.table} without WHERE deletes every row", "add a WHERE clause and delete in bounded batches"
        )
