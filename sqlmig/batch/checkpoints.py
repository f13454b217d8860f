"""The checkpoint table: per batched statement, the last key whose range committed.

A checkpoint row is written in the same transaction as the range it records, so after
a crash the table says exactly which ranges committed: none is processed twice, none is
skipped. Rows are kept after the migration completes (they feed `status` and `finalize`)
and deleted when it is rolled back, finalized, or started afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlmig import history as H
from sqlmig.config import Settings


@dataclass(frozen=True)
class Checkpoint:
    version: str
    statement: int  # 0-based index in the forward file
    checksum: str
    last_key: list[str] | None = None
    keys_done: int = 0
    rows_touched: int = 0
    batches: int = 0
    total_estimate: int | None = None
    done: bool = False
    capture_table: str | None = None
    elapsed_ms: int = 0  # time spent on this statement, over every run, up to its last committed range
    updated_at: datetime | None = None

    def advanced(self, **changes: Any) -> Checkpoint:
        return replace(self, **changes)

    @property
    def started(self) -> bool:
        return self.batches > 0 or self.done


class Checkpoints:
    """Reads and writes checkpoint rows on one connection (the caller owns the transaction)."""

    def __init__(self, conn: Any, settings: Settings) -> None:
        from psycopg import sql

        self.conn = conn
        self.table_name = f"{settings.history_table}_checkpoints"
        self.ident = sql.Identifier(settings.history_schema, self.table_name)
        self._sql = sql

    def _q(self, template: str) -> Any:
        return self._sql.SQL(template).format(checkpoints=self.ident)

    def exists(self) -> bool:
        return bool(self.conn.execute(H.TABLE_EXISTS, (self.ident.as_string(self.conn),)).fetchone()[0])

    def ensure(self) -> None:
        self.conn.execute(self._q(H.CREATE_CHECKPOINTS))

    def read(self, version: str) -> dict[int, Checkpoint]:
        if not self.exists():
            return {}
        rows = self.conn.execute(self._q(H.SELECT_CHECKPOINTS), {"version": version}).fetchall()
        return {r[1]: Checkpoint(*r) for r in rows}

    def read_all(self) -> dict[str, list[Checkpoint]]:
        if not self.exists():
            return {}
        out: dict[str, list[Checkpoint]] = {}
        for r in self.conn.execute(self._q(H.SELECT_ALL_CHECKPOINTS)).fetchall():
            out.setdefault(r[0], []).append(Checkpoint(*r))
        return out

    def save(self, cp: Checkpoint) -> None:
        self.conn.execute(self._q(H.UPSERT_CHECKPOINT), {
            "version": cp.version, "statement": cp.statement, "checksum": cp.checksum, "last_key": cp.last_key,
            "keys_done": cp.keys_done, "rows_touched": cp.rows_touched, "batches": cp.batches,
            "total_estimate": cp.total_estimate, "done": cp.done, "capture_table": cp.capture_table,
            "elapsed_ms": cp.elapsed_ms,
        })  # fmt: skip

    def delete(self, version: str) -> None:
        if self.exists():
            self.conn.execute(self._q(H.DELETE_CHECKPOINTS), {"version": version})


def percent_done(checkpoints: list[Checkpoint], statements: int) -> float:
    """Share of the work done: each statement counts equally, by keys covered over the row estimate."""
    if statements <= 0:
        return 100.0
    total = 0.0
    for cp in checkpoints:
        if cp.done:
            total += 1.0
        elif cp.total_estimate:
            total += min(cp.keys_done / cp.total_estimate, 0.99)
    return round(100.0 * total / statements, 1)
