"""Small helpers the rule modules share: naming objects in messages, and the questions most rules ask."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmig import ddl, postgres
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import Hit


def col(table: str | None, column: str | None) -> str:
    """`users.email`, the way messages name a column."""
    return f"{table}.{column}" if column else str(table)


def locks(mode: str) -> str:
    """`ACCESS EXCLUSIVE (blocks reads and writes)`."""
    return f"{mode} (blocks {postgres.blocks(mode)})"


def existing_table(ctx: FileContext, a: ddl.Anatomy) -> bool:
    """The statement's table existed before this file (a table created earlier in the file is new and empty)."""
    return bool(a.table) and not ctx.is_new(a.table)


def actions(a: ddl.Anatomy, *verbs: str) -> Iterator[ddl.Action]:
    return (x for x in a.actions if x.verb in verbs)


def alter_existing(ctx: FileContext, a: ddl.Anatomy, *verbs: str) -> Iterator[ddl.Action]:
    """ALTER TABLE actions of the given verbs on a table that existed before this file."""
    if a.kind == "ALTER TABLE" and existing_table(ctx, a):
        yield from actions(a, *verbs)


def hit(message: str, hint: str | None = None, at: object = None, **kw: object) -> Hit:
    """A Hit positioned at an action/column (anything with `pos`) or at the statement's start."""
    return Hit(message, hint, getattr(at, "pos", None), **kw)  # type: ignore[arg-type]


def split_hint(ctx: FileContext) -> str:
    """How to run something outside a transaction, phrased for a project or a loose file."""
    if ctx.in_project:
        return "in a migration of its own with `transaction: none` in its manifest"
    return "outside any transaction block, in a file of its own"
