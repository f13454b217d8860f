"""The rollback replayed on the schema after the forward file: the orders PostgreSQL refuses.

A table dropped before the view that reads it or the table that references it, a function before
the trigger that calls it, a statement on a table already dropped, an index or view dropped after
the DROP TABLE (… CASCADE) that took it along. The schema model drops what PostgreSQL drops with
an object (a table's indexes and triggers, a CASCADE's dependents), so the usual order, DROP TABLE
then DROP FUNCTION of its trigger's function, is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmig import ddl
from sqlmig.findings import Finding
from sqlmig.reversibility.effects import _k
from sqlmig.sql import Statement

RULE = "SM501"
_RELATION_DROPS = ("DROP TABLE", "DROP VIEW", "DROP MATERIALIZED VIEW")
_MAP_OF = {"DROP INDEX": "indexes", "DROP VIEW": "views", "DROP MATERIALIZED VIEW": "views"}


def order_findings(rollback: list[Statement], state: Any, path: str) -> list[Finding]:
    """Replay the rollback on `state` (a SchemaModel after the forward file); report what PostgreSQL would refuse."""
    out: list[Finding] = []
    dropped: dict[str, int] = {}  # table -> line of its DROP TABLE
    along: dict[tuple[str, str], tuple[Statement, str]] = {}  # (map, bare name) -> (the DROP, what it dropped)
    for stmt in rollback:
        a = ddl.describe(stmt)
        cascade = "CASCADE" in a.flags
        if a.kind in _RELATION_DROPS and not cascade:
            for t in a.objects:
                out += _dependents(state, a.kind[5:].lower(), t, a.objects, stmt, path)
        if a.kind == "DROP FUNCTION" and not cascade and a.object:
            for key, table in state.triggers_using(a.object):
                out.append(
                    _error(
                        path,
                        stmt,
                        f"rollback drops function {a.object} before the trigger that uses it "
                        f"({key.rsplit('.', 1)[-1]} on {table})",
                        "drop the trigger first",
                    )
                )
        if a.kind in _MAP_OF and "IF EXISTS" not in a.flags:
            for name in a.objects:
                if (got := along.get((_MAP_OF[a.kind], _bare(name)))) is not None:
                    out.append(
                        _error(
                            path,
                            stmt,
                            f"rollback drops {a.kind[5:].lower()} {name} after {got[1]} at "
                            f'line {got[0].line} dropped it along: PostgreSQL fails with "does not exist"',
                            "drop it first, or not at all",
                        )
                    )
        target = a.table if a.kind not in ("DROP TABLE", "CREATE TABLE") else None
        if target and _k(target) in dropped and "IF EXISTS" not in a.flags:
            out.append(
                _error(
                    path,
                    stmt,
                    f"rollback {a.kind.lower()} on {target} after dropping table {target} at "
                    f"line {dropped[_k(target)]}: it no longer exists",
                    "undo in reverse order: this statement before the DROP TABLE",
                )
            )
        if a.kind == "DROP TABLE":
            dropped.update({_k(t): stmt.line for t in a.objects})
        for attr, key in state.apply(a):
            along[(attr, _bare(key))] = (stmt, f"{a.kind}{' … CASCADE' if cascade else ''} {', '.join(a.objects)}")
    return out


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _error(path: str, stmt: Statement, message: str, hint: str) -> Finding:
    return Finding(RULE, "error", path, stmt.line, message, hint)


def _dependents(
    state: Any, what: str, table: str, dropped_together: Iterable[str], stmt: Statement, path: str
) -> list[Finding]:
    """Views that read `table` (a table or view) and tables whose foreign keys point at it, still there."""
    together = [_k(t) for t in dropped_together]
    found = [(v, f"the view that depends on it ({v})", f"drop the view {v} first") for v in state.views_reading(table)]
    if what == "table":
        found += [
            (n, f"table {n} that references it", f"drop {n} (or its foreign key) first")
            for n in state.tables_referencing(table)
        ]
    return [
        _error(path, stmt, f"rollback drops {what} {table} before {dependent}", hint)
        for name, dependent, hint in found
        if name not in together
    ]
