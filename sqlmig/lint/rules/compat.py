"""Backward-incompatible changes: what breaks the application version still running during the deploy.

These rules do not fire on a rollback statement that undoes the forward migration (see SM501):
dropping the column the forward file added is the point of the rollback.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlmig import ddl
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import Hit, rule
from sqlmig.lint.rules.common import alter_existing, col, existing_table, hit
from sqlmig.sql import Statement

_EXPAND_CONTRACT = "expand/contract: add the new name, write both, backfill, switch readers, drop the old later"


@rule(
    "SM200",
    "rename-column",
    "error",
    "Renaming a column breaks the running application",
    family="compat",
    kinds=("ALTER TABLE",),
)
def rename_column(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ALTER TABLE … RENAME COLUMN` on an existing table.

    ## Why is this bad
    During the deploy the old application version still reads and writes the old name; its queries
    fail from the moment the migration commits until the last old instance is gone.

    ## Example
    ```sql
    ALTER TABLE users RENAME COLUMN name TO full_name;
    ```

    ## Use instead
    Expand/contract: add `full_name`, write both columns, backfill, switch reads, drop `name` in a later
    release. Or rename only in the application's mapping.

    ## Known problems
    None known.
    """
    for act in alter_existing(ctx, a, "RENAME COLUMN"):
        yield hit(
            f"RENAME COLUMN {col(a.table, act.column)} TO {act.new_name}: running code that uses "
            f"{act.column} fails until it is redeployed",
            _EXPAND_CONTRACT,
            act,
        )


@rule(
    "SM201",
    "rename-table",
    "error",
    "Renaming a table breaks the running application",
    family="compat",
    kinds=("ALTER TABLE",),
)
def rename_table(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ALTER TABLE … RENAME TO` of an existing table.

    ## Why is this bad
    The old application version still queries the old name.

    ## Example
    ```sql
    ALTER TABLE customers RENAME TO accounts;
    ```

    ## Use instead
    Rename, then `CREATE VIEW customers AS SELECT * FROM accounts` for the transition (a simple view is
    updatable), and drop the view once no code uses it. Or expand/contract.

    ## Known problems
    None known.
    """
    for act in alter_existing(ctx, a, "RENAME TO"):
        if ctx.later(("CREATE VIEW",), a.table) is None:
            yield hit(
                f"RENAME {a.table} TO {act.new_name}: running code that uses {a.table} fails until it is redeployed",
                f"keep a view named {a.table} over the renamed table during the transition",
                act,
            )


_OTHER_RENAMES = (
    "ALTER VIEW",
    "ALTER MATERIALIZED VIEW",
    "ALTER FUNCTION",
    "ALTER PROCEDURE",
    "ALTER TYPE",
    "ALTER SEQUENCE",
    "ALTER SCHEMA",
    "ALTER TABLE",
    "ALTER DOMAIN",
)


@rule(
    "SM202",
    "rename-other-object",
    "warning",
    "Renaming or moving a view, function, type, sequence or schema",
    family="compat",
    kinds=_OTHER_RENAMES,
)
def rename_other_object(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `RENAME TO` of a view, function, type, sequence or schema, `ALTER TYPE … RENAME VALUE`, and
    `SET SCHEMA` of any object that existed before this file.

    ## Why is this bad
    Code that names the object (or the enum value) breaks until it is redeployed.

    ## Example
    ```sql
    ALTER TYPE order_status RENAME VALUE 'canceled' TO 'cancelled';
    ```

    ## Use instead
    Expand/contract. For an enum value: add the new value, migrate the data, stop using the old one.

    ## Known problems
    None known.
    """
    if a.kind not in _OTHER_RENAMES or ctx.is_new(a.object):
        return
    for act in a.actions:
        if act.verb == "SET SCHEMA":
            yield hit(
                f"{a.kind} {a.object} SET SCHEMA {act.new_name}: code using the old qualified name breaks",
                _EXPAND_CONTRACT,
                act,
            )
        elif act.verb == "RENAME TO" and a.kind != "ALTER TABLE":
            yield hit(
                f"{a.kind} {a.object} RENAME TO {act.new_name}: code using {a.object} breaks", _EXPAND_CONTRACT, act
            )
        elif act.verb == "RENAME VALUE":
            yield hit(
                f"enum {a.object}: RENAME VALUE '{act.name}' TO '{act.new_name}': code writing '{act.name}' fails",
                "add the new value, migrate rows, stop using the old one",
                act,
            )


@rule(
    "SM203",
    "drop-column-in-use",
    "error",
    "Dropping a column the running application may still use",
    family="compat",
    kinds=("ALTER TABLE",),
)
def drop_column_in_use(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `DROP COLUMN` on an existing table, unless the migration's manifest says `phase: contract`
    (the declaration that no running code uses it any more).

    ## Why is this bad
    The old application version still selects or inserts the column (ORMs cache the column list), and
    fails from the moment the migration commits. The data is gone too.

    ## Example
    ```sql
    ALTER TABLE users DROP COLUMN legacy_code;   -- phase: expand
    ```

    ## Use instead
    Remove every use and deploy that first; drop the column in a later `phase: contract` migration.

    ## Known problems
    None known.
    """
    if ctx.manifest is not None and ctx.manifest.phase == "contract":
        return
    for act in alter_existing(ctx, a, "DROP COLUMN"):
        yield hit(
            f"DROP COLUMN {col(a.table, act.column)}: running code that still uses it fails, and its data is gone",
            "remove the column's uses and deploy first; drop it in a later migration with phase: contract",
            act,
        )


@rule(
    "SM204",
    "drop-not-null",
    "warning",
    "DROP NOT NULL lets NULLs reach code that does not expect them",
    family="compat",
    kinds=("ALTER TABLE",),
)
def drop_not_null(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `ALTER COLUMN … DROP NOT NULL` on an existing table.

    ## Why is this bad
    Readers written for a NOT NULL column may not handle the NULLs that new writers store.

    ## Example
    ```sql
    ALTER TABLE orders ALTER COLUMN shipped_at DROP NOT NULL;
    ```

    ## Use instead
    Review the readers, or keep NOT NULL with a sentinel value.

    ## Known problems
    None known.
    """
    for act in alter_existing(ctx, a, "DROP NOT NULL"):
        yield hit(
            f"DROP NOT NULL on {col(a.table, act.column)}: readers may not expect NULLs",
            "review the readers first",
            act,
        )


@rule(
    "SM205",
    "new-write-restriction",
    "warning",
    "A new constraint that old writers may violate",
    family="compat",
    default=False,
    kinds=("ALTER TABLE",),
)
def new_write_restriction(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags a new CHECK, UNIQUE, FOREIGN KEY or NOT NULL on an existing table, even NOT VALID (opt-in).

    ## Why is this bad
    NOT VALID skips existing rows, not new writes: the running application may start failing.

    ## Example
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID;
    ```

    ## Use instead
    Ship the application change that respects the constraint first.

    ## Known problems
    None known.
    """
    for act in alter_existing(ctx, a, "ADD CONSTRAINT", "SET NOT NULL"):
        what = act.constraint.kind if act.constraint else "NOT NULL"
        yield hit(
            f"new {what} on {a.table}: writes from the running application may now fail",
            "deploy the application that respects it first",
            act,
        )


@rule(
    "SM206",
    "default-change",
    "info",
    "Changing a column default changes what old writers store",
    family="compat",
    default=False,
    kinds=("ALTER TABLE",),
)
def default_change(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `SET DEFAULT` / `DROP DEFAULT` on a column of an existing table (opt-in).

    ## Why is this bad
    Writers that omit the column silently store something else from now on.

    ## Example
    ```sql
    ALTER TABLE users ALTER COLUMN plan SET DEFAULT 'free';
    ```

    ## Use instead
    Review the writers.

    ## Known problems
    None known.
    """
    for act in alter_existing(ctx, a, "SET DEFAULT", "DROP DEFAULT"):
        yield hit(f"{act.verb} on {col(a.table, act.column)} changes what writers that omit it store", None, act)


@rule("SM207", "enum-value-append", "info", "ADD VALUE without BEFORE or AFTER", family="compat", kinds=("ALTER TYPE",))
def enum_value_append(stmt: Statement, a: ddl.Anatomy, ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Reports `ALTER TYPE … ADD VALUE` without `BEFORE` or `AFTER`.

    ## Why is this bad
    The value goes last, which changes the meaning of ordering comparisons (`status < 'shipped'`) and
    ORDER BY on the column.

    ## Example
    ```sql
    ALTER TYPE order_status ADD VALUE 'on_hold';
    ```

    ## Use instead
    ```sql
    ALTER TYPE order_status ADD VALUE 'on_hold' BEFORE 'shipped';
    ```

    ## Known problems
    Enums that are never compared or sorted do not care.
    """
    if a.kind == "ALTER TYPE" and "ADD VALUE" in a.verbs and not a.flags & {"BEFORE", "AFTER"}:
        label = a.targets[0] if a.targets else "?"
        yield hit(
            f"'{label}' is added last in {a.object}: ordering comparisons and ORDER BY see it as the largest",
            "say where it goes with BEFORE or AFTER",
        )


__all__ = ["existing_table"]
