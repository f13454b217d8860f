"""Capture of prior row values for `capture: true`, their restore, and `finalize`.

Before each range's statement runs, the range's rows are locked (FOR UPDATE) and copied
into the migration's capture table; after it, copies of rows the statement did not touch
are pruned (a touched row's new version carries this transaction's id as xmin; a deleted
row is gone). All of it commits with the range, so the capture holds exactly the prior
values of the rows the migration changed, even across kill -9 and resume.

Restore (a rollback file that says `-- sqlmig:restore-captured`) puts every captured
row back to its earliest captured value, in slices of `RESTORE_SLICE` captured rows,
each committed on its own. Restoring is idempotent, so a restore cut short is simply
run again. The capture table lives in the history schema until the migration is rolled
back or `sqlmig finalize VERSION` drops it.
"""

from __future__ import annotations

from typing import Any

from sqlmig import history as H
from sqlmig.batch.keyset import KeyedTable

RESTORE_SLICE = 5000


def capture_table_name(history_table: str, version: str, name: str) -> str:
    """<history_table>_capture_<version>_<name>, cut to PostgreSQL's 63-byte identifier limit."""
    return f"{history_table}_capture_{version}_{name}"[:63]


class Capture:
    """One migration's capture table, for one batch table."""

    def __init__(self, conn: Any, schema: str, table_name: str, source: KeyedTable) -> None:
        from psycopg import sql

        self.conn = conn
        self.name = table_name
        self.shown = f"{schema}.{table_name}"
        self.ident = sql.Identifier(schema, table_name)
        self.source = source
        self._sql = sql
        key = [sql.Identifier(c) for c in source.key]
        self._cols = sql.SQL(", ").join(key)

        def qualified(alias: str) -> Any:
            return sql.SQL(", ").join(sql.Identifier(alias, c) for c in source.key)

        self.parts = {"capture": self.ident, "table": source.ident, "cols": self._cols,
                      "c_cols": qualified("c"), "t_cols": qualified("t"), "e_cols": qualified("e")}  # fmt: skip

    def _q(self, template: str, **extra: Any) -> Any:
        return self._sql.SQL(template).format(**{**self.parts, **extra})

    def exists(self) -> bool:
        return bool(self.conn.execute(H.TABLE_EXISTS, (self.ident.as_string(self.conn),)).fetchone()[0])

    def create(self, *, empty: bool) -> None:
        """Create the table (and its key index) if missing; `empty` clears rows of an earlier run."""
        index = self._sql.Identifier(f"{self.name[:55]}_key")
        self.conn.execute(self._q(H.CREATE_CAPTURE))
        self.conn.execute(self._q(H.CREATE_CAPTURE_INDEX, index=index))
        if empty:
            self.conn.execute(self._q(H.TRUNCATE_CAPTURE))

    def drop(self) -> None:
        self.conn.execute(self._q(H.DROP_CAPTURE))

    def _captured_columns(self) -> list[str]:
        """Columns of the source that the capture table also has (a later contract may have dropped some)."""
        rows = self.conn.execute(H.TABLE_COLUMNS, (self.ident.as_string(self.conn),)).fetchall()
        have = {r[0] for r in rows}
        return [c.name for c in self.source.columns if c.name in have]

    # ---- during a batch (inside the range's transaction)
    def before(self, statement: int, start: list[str], end: list[str]) -> int:
        """Copy the range's rows (locking them); returns the sequence number to prune after."""
        seq = int(self.conn.execute(self._q(H.CAPTURE_MAX_SEQ)).fetchone()[0])
        row = self._sql.SQL(", ").join([self._sql.Placeholder()] * len(start))
        columns = self._sql.SQL(", ").join(self._sql.Identifier(c.name) for c in self.source.columns)
        query = self._q(H.CAPTURE_RANGE, columns=columns, start=row, end=row)
        self.conn.execute(query, [statement, *start, *end])
        return seq

    def after(self, seq_before: int, start: list[str], end: list[str]) -> None:
        """Drop the copies of rows the statement did not touch (in the range start..end)."""
        sql = self._sql

        def row(prefix: str, n: int) -> Any:
            return sql.SQL(", ").join(sql.Placeholder(f"{prefix}{i}") for i in range(n))

        query = self._q(H.CAPTURE_PRUNE, start=row("s", len(start)), end=row("e", len(end)))
        params = {"seq_before": seq_before, **{f"s{i}": v for i, v in enumerate(start)},
                  **{f"e{i}": v for i, v in enumerate(end)}}  # fmt: skip
        self.conn.execute(query, params)

    # ---- restore
    def restore(self, on_slice: Any = None) -> tuple[int, int]:
        """Put captured rows back, slice by slice (each its own transaction). Returns (updated, inserted)."""
        sql = self._sql
        by_name = {c.name: c for c in self.source.columns}
        names = self._captured_columns()
        settable = [n for n in names if n not in self.source.key and not by_name[n].generated
                    and not by_name[n].identity_always]  # fmt: skip
        insertable = [n for n in names if not by_name[n].generated]
        ids = sql.SQL(", ").join
        upd = self._q(H.RESTORE_UPDATE, set_cols=ids(sql.Identifier(n) for n in settable),
                      c_set_cols=ids(sql.Identifier("c", n) for n in settable))  # fmt: skip
        ins = self._q(H.RESTORE_INSERT, columns=ids(sql.Identifier(n) for n in insertable),
                      c_columns=ids(sql.Identifier("c", n) for n in insertable))  # fmt: skip
        bound = self._q(H.CAPTURE_SEQ_BOUND)
        top = int(self.conn.execute(self._q(H.CAPTURE_MAX_SEQ)).fetchone()[0])
        updated = inserted = 0
        lo = 0
        while lo < top:
            row = self.conn.execute(bound, {"after": lo, "skip": RESTORE_SLICE - 1}).fetchone()
            hi = int(row[0]) if row else top
            with self.conn.transaction():
                if settable:
                    updated += self.conn.execute(upd, {"lo": lo, "hi": hi}).rowcount
                inserted += self.conn.execute(ins, {"lo": lo, "hi": hi}).rowcount
            if on_slice:
                on_slice(hi, top)
            lo = hi
        return updated, inserted
