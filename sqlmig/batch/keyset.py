"""The batch table and its key: resolution from the catalog, and keyset lookups of each range.

A range is [first key after the last committed one, the key `size - 1` entries later], both
found by index range scans that start at the last committed key. `OFFSET size - 1` in that
lookup skips entries of the range being formed, never the rows already processed, so a
lookup costs the same at the end of a huge table as at its start (unlike OFFSET
pagination, whose offset grows with the table). Keys travel as text (`key::text`), so
integer, bigint, UUID, text and composite keys are handled alike and checkpoint exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmig import history as H
from sqlmig.errors import ProjectError
from sqlmig.manifest import Batch


@dataclass(frozen=True)
class Column:
    name: str
    not_null: bool
    generated: bool
    identity_always: bool


@dataclass(frozen=True)
class KeyedTable:
    """The batch table as the server knows it."""

    schema: str
    name: str
    key: tuple[str, ...]
    estimate: int  # pg_class.reltuples, or a count when the table was never analyzed
    columns: tuple[Column, ...]

    @property
    def shown(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def ident(self) -> Any:
        from psycopg import sql

        return sql.Identifier(self.schema, self.name)


def resolve_table(conn: Any, batch: Batch, where: str) -> KeyedTable:
    """Find the table, its key (the primary key by default), and check the key is pageable.

    Raises ProjectError (nothing has run) for a missing table, a missing or nullable key
    column, or a key without a btree index that starts with it.
    """
    from psycopg import sql

    row = conn.execute(H.BATCH_TABLE, (batch.table,)).fetchone()
    if row is None:
        raise ProjectError(f"batch table {batch.table} does not exist", where=where,
                           hint="create it in an earlier migration, or fix batch.table")  # fmt: skip
    schema, name, reltuples = row
    qualified = sql.Identifier(schema, name).as_string(conn)
    columns = tuple(Column(*r) for r in conn.execute(H.TABLE_COLUMNS, (qualified,)).fetchall())
    if batch.key:
        key = batch.key
    else:
        key = tuple(r[0] for r in conn.execute(H.PRIMARY_KEY_COLUMNS, (qualified,)).fetchall())
        if not key:
            raise ProjectError(f"batch table {schema}.{name} has no primary key", where=where,
                               hint="name a unique, NOT NULL, indexed column as batch.key")  # fmt: skip
    by_name = {c.name: c for c in columns}
    for col in key:
        if col not in by_name:
            raise ProjectError(f"batch key column {col} is not a column of {schema}.{name}", where=where)
        if not by_name[col].not_null:
            raise ProjectError(
                f"batch key column {schema}.{name}.{col} allows NULL; rows with a NULL key would never be visited",
                where=where, hint="use the primary key, or a NOT NULL unique column",
            )  # fmt: skip
    attnums = conn.execute(H.KEY_ATTNUMS, {"columns": list(key), "table": qualified}).fetchone()[0]
    indexed = conn.execute(H.KEY_INDEX_EXISTS, {"table": qualified, "n": len(key), "attnums": attnums}).fetchone()[0]
    if not indexed:
        raise ProjectError(
            f"no btree index on {schema}.{name} starts with ({', '.join(key)})",
            where=where,
            hint="every range lookup would scan the table; batch on an indexed key (the primary key by default)",
        )
    if reltuples is None or reltuples < 0:
        reltuples = conn.execute(sql.SQL(H.COUNT_ROWS).format(table=sql.Identifier(schema, name))).fetchone()[0]
    return KeyedTable(schema, name, key, int(reltuples), columns)


class Keyset:
    """The SQL that finds each range, composed once for one table and key."""

    def __init__(self, table: KeyedTable) -> None:
        from psycopg import sql

        n = len(table.key)
        idents = [sql.Identifier(c) for c in table.key]
        self.n = n
        parts = {
            "table": table.ident,
            "cols": sql.SQL(", ").join(idents),
            "cols_desc": sql.SQL(", ").join(sql.SQL("{} DESC").format(i) for i in idents),
            # aliased: a bare `id::text` would be the output column `id`, and ORDER BY id would sort it as text
            "text_cols": sql.SQL(", ").join(
                sql.SQL("{}::text AS {}").format(c, sql.Identifier(f"sqlmig_k{n}")) for n, c in enumerate(idents)
            ),
        }
        row = sql.SQL(", ").join([sql.Placeholder()] * n)
        self.first_sql = sql.SQL(H.FIRST_KEY).format(after=row, **parts)
        self.first_at_start_sql = sql.SQL(H.FIRST_KEY_AT_START).format(**parts)
        named = sql.SQL(", ").join(sql.Placeholder(f"s{i}") for i in range(n))
        self.last_sql = sql.SQL(H.LAST_KEY).format(start=named, **parts)
        self.count_sql = sql.SQL(H.COUNT_RANGE).format(start=row, end=row, **parts)
        self.parts = parts

    def first(self, conn: Any, after: list[str] | None) -> list[str] | None:
        """The first key after `after` (None: from the start); None when no key is left."""
        if after is None:
            row = conn.execute(self.first_at_start_sql).fetchone()
        else:
            row = conn.execute(self.first_sql, after).fetchone()
        return list(row) if row else None

    def last(self, conn: Any, start: list[str], size: int) -> tuple[list[str], bool]:
        """The last key of a range of `size` keys from `start`, and whether the range is the table's tail."""
        params: dict[str, Any] = {f"s{i}": v for i, v in enumerate(start)}
        params["skip"] = max(size - 1, 0)
        row = conn.execute(self.last_sql, params).fetchone()
        if row is None:  # every key from `start` on was deleted meanwhile: an empty range
            return list(start), True
        return list(row[: self.n]), bool(row[self.n])

    def count(self, conn: Any, start: list[str], end: list[str]) -> int:
        return int(conn.execute(self.count_sql, [*start, *end]).fetchone()[0])

    def shown(self, conn: Any = None) -> dict[str, str]:
        """The lookups as text, for `plan`."""
        last = " ".join(self.last_sql.as_string(conn).split())
        return {"first_key": self.first_sql.as_string(conn), "last_key": last}
