"""What a statement does to schema and data: its kind, DDL or DML, which tables, destructive or additive.

For `sqlmig check`, which holds a manifest to its SQL (phase, point_of_no_return, batch),
for verify (which tables a migration writes) and for Statement.kind. Everything is read
from sqlmig.ddl's token-level anatomy, which names objects even where sqlglot's parser
gives up; sqlglot's tree only for what needs expressions: an INSERT's SELECT, a WHERE's shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmig import ddl

if TYPE_CHECKING:
    from sqlmig.sql import Statement

# Two-word kinds, checked before one-word kinds.
_TWO_WORD = {"CREATE", "ALTER", "DROP", "COMMENT", "REFRESH"}
_SKIP = {"OR", "REPLACE", "UNIQUE", "TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL", "MATERIALIZED",
         "CONSTRAINT", "TRUSTED", "PROCEDURAL", "RECURSIVE", "DEFAULT"}  # fmt: skip


def statement_kind(stmt: Statement) -> str:
    """'CREATE INDEX', 'ALTER TABLE', 'UPDATE', 'REFRESH MATERIALIZED VIEW', 'WITH' … from the leading words."""
    words = ddl.words(stmt)[:8]
    if not words:
        return ""
    head = words[0]
    if head in _TWO_WORD and len(words) > 1:
        rest = [w for w in words[1:] if w not in _SKIP]
        if "MATERIALIZED" in words[1:3] and rest[:1] == ["VIEW"]:
            return f"{head} MATERIALIZED VIEW"
        return f"{head} {rest[0]}" if rest else head
    return head


_DDL_HEADS = {"CREATE", "ALTER", "DROP", "COMMENT", "GRANT", "REVOKE", "REINDEX", "CLUSTER", "SECURITY", "IMPORT"}
_DML_KINDS = {"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE"}
_DESTRUCTIVE_DROPS = {"DROP TABLE", "DROP SCHEMA", "DROP DATABASE"}
_BREAKING_VERBS = {
    "RENAME TO": "… RENAME TO: code still using the old name breaks",
    "RENAME COLUMN": "RENAME COLUMN: code still using the old name breaks",
    "RENAME VALUE": "RENAME VALUE: code still using the old label breaks",
    "SET SCHEMA": "SET SCHEMA: code using the old qualified name breaks",
    "ALTER COLUMN TYPE": "ALTER COLUMN … TYPE: code reading or writing the old type may break",
    "DROP DEFAULT": "DROP DEFAULT: writers that relied on the default now store NULL or fail",
}


def fold_name(name: str) -> str:
    """A relation name as PostgreSQL resolves it: unquoted parts fold to lower case (A."B" -> a.B)."""
    return ".".join(p[1:-1] if p.startswith('"') and p.endswith('"') else ddl.fold(p) for p in name.split("."))


def same_table(a: str, b: str) -> bool:
    """Whether two relation names can mean the same table (an unqualified name matches any schema)."""
    return ddl.same_name(fold_name(a), fold_name(b))


def is_ddl(stmt: Statement) -> bool:
    """A schema change (CREATE/ALTER/DROP/COMMENT/GRANT …). Temporary tables, SET and DML are not."""
    a = ddl.describe(stmt)
    return a.kind.split(" ")[0] in _DDL_HEADS and "TEMPORARY" not in a.flags


def is_dml(stmt: Statement) -> bool:
    """A data change: INSERT, UPDATE, DELETE, MERGE, TRUNCATE (also behind a WITH)."""
    return dml_kind(stmt) is not None


def dml_kind(stmt: Statement) -> str | None:
    """INSERT, UPDATE, DELETE, MERGE or TRUNCATE (also behind a WITH) for a data change; None otherwise."""
    kind = ddl.describe(stmt).kind
    return kind if kind in _DML_KINDS else None


def created_table(stmt: Statement) -> str | None:
    """The table a CREATE TABLE (not TEMP) makes, or None."""
    a = ddl.describe(stmt)
    return a.object if a.kind == "CREATE TABLE" and "TEMPORARY" not in a.flags else None


def created_columns(stmt: Statement) -> list[tuple[str, str]]:
    """(table, column) for every column an ALTER TABLE … ADD COLUMN adds: with created_table, what a migration
    makes new (for backward_incompatible_reason's `new_columns`, and the reversibility proof)."""
    a = ddl.describe(stmt)
    if a.kind != "ALTER TABLE" or not a.table:
        return []
    return [(a.table, act.column) for act in a.actions if act.verb == "ADD COLUMN" and act.column]


def dml_target(stmt: Statement) -> str | None:
    """The table an UPDATE, DELETE or INSERT writes (TRUNCATE: its first table), or None."""
    a = ddl.describe(stmt)
    return a.table if a.kind in _DML_KINDS else None


def written_tables(stmt: Statement) -> list[str]:
    """The tables whose rows a statement changes: an INSERT/UPDATE/DELETE/MERGE target, every table TRUNCATE names."""
    a = ddl.describe(stmt)
    if a.kind == "TRUNCATE":
        return list(a.objects)
    return [a.table] if a.table and a.kind in _DML_KINDS else []


def target_tables(stmt: Statement) -> list[str]:
    """The tables a data change, DROP TABLE, TRUNCATE or ALTER TABLE acts on ([] when unknown)."""
    a = ddl.describe(stmt)
    if a.kind == "DROP TABLE":
        return list(a.objects)
    if a.kind == "ALTER TABLE":
        return [a.table] if a.table else []
    return written_tables(stmt)


def insert_select_reads(stmt: Statement) -> set[str] | None:
    """For INSERT … SELECT: the tables its query reads; None for any other statement (INSERT … VALUES too)."""
    from sqlglot import exp

    tree = stmt.parse()
    if not isinstance(tree, exp.Insert) or not isinstance(tree.expression, (exp.Select, exp.SetOperation)):
        return None
    return {".".join(p.name for p in t.parts) for t in tree.expression.find_all(exp.Table) if t.name}


def rows_pinned(stmt: Statement) -> bool:
    """An UPDATE/DELETE whose WHERE pins rows by `col = constant` or `col IN (constants)`: a point change."""
    from sqlglot import exp

    tree = stmt.parse()
    where = tree.args.get("where") if isinstance(tree, (exp.Update, exp.Delete)) else None
    if where is None:
        return False
    conjuncts = list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]
    for c in conjuncts:
        if (
            isinstance(c, exp.EQ)
            and any(isinstance(x, exp.Column) for x in (c.left, c.right))
            and any(isinstance(x, (exp.Literal, exp.Placeholder)) for x in (c.left, c.right))
        ):
            return True
        if isinstance(c, exp.In) and c.expressions and all(isinstance(e, exp.Literal) for e in c.expressions):
            return True
    return False


def destructive_reason(stmt: Statement) -> str | None:
    """Why this statement destroys data (a table, a column, rows), or None. Whether the object is new: the caller's."""
    a = ddl.describe(stmt)
    if a.kind in _DESTRUCTIVE_DROPS:
        return f"{a.kind} destroys the {a.kind[5:].lower()} and its data"
    if a.kind.startswith("DROP ") and "CASCADE" in a.flags:
        return f"{a.kind} … CASCADE also drops whatever depends on it, columns and tables included"
    if "DROP COLUMN" in a.verbs:
        return "DROP COLUMN destroys the column and its data"
    if a.kind == "TRUNCATE":
        return "TRUNCATE deletes every row"
    if a.kind == "DELETE":
        return "DELETE removes rows"
    return None


def backward_incompatible_reason(stmt: Statement, new_tables: Any = (), new_columns: Any = ()) -> str | None:
    """Why code written for the schema before this statement may break after it, or None.

    Destructive statements, renames, SET SCHEMA, type changes, DROP DEFAULT, dropping
    anything but an index, and SET NOT NULL or a NOT NULL column without a default on a
    table that existed before (`new_tables`: created earlier in the same migration, exempt).
    `new_columns`: (table, column) pairs added earlier in the same migration, whose changes
    break no code written before it (what the column ends up as is the caller's to judge).
    """
    reason = destructive_reason(stmt)
    if reason:
        return reason
    a = ddl.describe(stmt)
    if a.kind.startswith("DROP ") and a.kind != "DROP INDEX":
        return f"{a.kind}: code that uses it breaks"
    fresh = {c for t, c in new_columns if same_table(a.table or "", t)} if a.kind == "ALTER TABLE" else set()
    actions = [x for x in a.actions if x.verb == "ADD COLUMN" or x.column not in fresh]
    for action in actions:
        if action.verb in _BREAKING_VERBS:
            return _BREAKING_VERBS[action.verb]
    if a.kind != "ALTER TABLE" or any(same_table(a.table or "", n) for n in new_tables):
        return None
    for action in actions:
        if action.verb == "SET NOT NULL" or (action.constraint is not None and action.constraint.kind == "NOT NULL"):
            return "SET NOT NULL on an existing column: writers that leave it empty start failing"
        col = action.coldef
        if action.verb == "ADD COLUMN" and col and col.not_null and col.default is None and not col.generated:
            return "ADD COLUMN … NOT NULL without a default: existing writers start failing"
    return None


def is_additive(stmt: Statement) -> bool:
    """Only adds: CREATE (not OR REPLACE), ADD COLUMN/CONSTRAINT/VALUE, COMMENT, GRANT."""
    a = ddl.describe(stmt)
    if a.kind.startswith("CREATE"):
        return "OR REPLACE" not in a.flags
    if a.kind in ("COMMENT", "GRANT"):
        return True
    if a.kind in ("ALTER TABLE", "ALTER TYPE") and a.verbs:
        return all(v in ("ADD COLUMN", "ADD CONSTRAINT", "ADD VALUE") for v in a.verbs)
    return False
