"""Does the rollback undo every effect of the forward SQL, in an order PostgreSQL accepts? Proven statically.

Each forward statement is reduced to effects with a key (`("ADD COLUMN", "users", "email")`); each
effect has an inverse key that some rollback statement must produce (`DROP COLUMN email` on users),
see sqlmig.reversibility.effects. Undoing the creation of an object undoes everything the forward
file did to it: dropping a table the file created, or a column it added (a default Django drops
right after ADD COLUMN). A rollback that restores captured rows (`-- sqlmig:restore-captured`, with
`batch: {capture: true}`) undoes the batched UPDATE/DELETE. The rollback is then replayed against
the schema after the forward file to catch an order PostgreSQL refuses (sqlmig.reversibility.order).

Findings are rule SM501 (`sqlmig lint --explain SM501`); `prove` is what lint calls, and
`check_migration` the same proof for a loaded Migration. Linear in the size of both files.
"""

from __future__ import annotations

from typing import Any

from sqlmig import ddl
from sqlmig.findings import Finding
from sqlmig.reversibility.effects import Effect, _k, effects, forward_effects
from sqlmig.reversibility.order import RULE, order_findings
from sqlmig.sql import Statement


class _Undone:
    """The rollback's effects indexed by key, and the relations it drops: each forward effect is looked up once."""

    def __init__(self, rollback: list[Statement], state: Any = None) -> None:
        self.by_key: dict[tuple, list[Effect]] = {}
        self.dml: dict[str, list[Effect]] = {}  # table -> the rollback's data changes on it
        self.cascade = False  # some DROP … CASCADE (what it takes along is unknown, so it may undo anything)
        self.relations: dict[str, list[str]] = {}  # bare name -> dropped tables/views
        for stmt in rollback:
            for r in effects(stmt, state):
                self.by_key.setdefault(r.key, []).append(r)
                if r.key[0] == "dml":
                    self.dml.setdefault(r.key[2], []).append(r)
            a = ddl.describe(stmt)
            self.cascade |= a.kind.startswith("DROP ") and "CASCADE" in a.flags
            if a.kind in ("DROP TABLE", "DROP VIEW", "DROP MATERIALIZED VIEW"):
                for name in a.objects:
                    self.relations.setdefault(name.rsplit(".", 1)[-1], []).append(name)

    def first(self, undo: tuple) -> Effect | None:
        """A rollback effect that produces `undo` (its first element may be a tuple of alternative verbs)."""
        for key in [(v, *undo[1:]) for v in undo[0]] if isinstance(undo[0], tuple) else [undo]:
            if key in self.by_key:
                return self.by_key[key][0]
        return None

    def drops_relation(self, name: str) -> bool:
        """The rollback drops this table, view or materialized view (and with it its indexes, triggers, columns)."""
        return any(ddl.same_name(name, n) for n in self.relations.get(name.rsplit(".", 1)[-1], ()))


def captured_table(manifest: Any, rollback_text: str | None) -> str | None:
    """The batch table whose rows the rollback puts back: `batch: {capture: true}` and a rollback file that says
    `-- sqlmig:restore-captured` (sqlmig restores every row the batched UPDATE/DELETE changed)."""
    from sqlmig.sql import has_restore_directive

    batch = getattr(manifest, "batch", None)
    if batch is None or not batch.capture or not has_restore_directive(rollback_text):
        return None
    return batch.table


def prove(
    forward: list[Statement],
    rollback: list[Statement] | None,
    *,
    forward_path: str,
    rollback_path: str,
    point_of_no_return: str | None = None,
    model: Any = None,
    captured: str | None = None,
) -> list[Finding]:
    """SM501 findings for one migration: effects the rollback misses, data changes it cannot prove, bad order.

    `model`: a sqlmig.lint.schema.SchemaModel of the schema before the forward file (optional; it lets
    the proof know views and foreign keys from earlier migrations and what OR REPLACE replaced).
    `captured`: the table whose captured rows the rollback restores (see captured_table).
    """
    line = forward[0].line if forward else 1
    if point_of_no_return is not None:
        return [
            Finding(
                RULE,
                "info",
                forward_path,
                line,
                f"point of no return ({point_of_no_return}): reversibility is not checked, by design",
            )
        ]
    fwd, created_tables, state = forward_effects(forward, model)
    if rollback is None:
        return [
            Finding(
                RULE,
                "error",
                forward_path,
                line,
                f"no rollback file {rollback_path} and no point_of_no_return in the manifest",
                "write the rollback, or declare point_of_no_return",
            )
        ]
    undone = _Undone(rollback, state)
    out = [f for e in fwd if (f := _missing(e, undone, created_tables, forward_path, captured)) is not None]
    return out + order_findings(rollback, state, rollback_path)


def _missing(e: Effect, undone: _Undone, created: set[str], path: str, captured: str | None) -> Finding | None:
    line = e.stmt.line
    if e.within_new:
        return None  # undone with the column it belongs to (a rollback that forgets the column is told so)
    if e.table and e.key[:2] != ("create", "table") and (_k(e.table) in created or undone.drops_relation(e.table)):
        return None  # dropping the relation (the forward file's own table, or one the rollback rebuilds) undoes it
    if e.key[0] == "enum value":
        return Finding(
            RULE,
            "warning",
            path,
            line,
            f"forward {e.said}; PostgreSQL cannot remove an enum value, so no rollback can undo it",
            "accept it (the value stays), or declare point_of_no_return",
        )
    if e.key[0] == "dml":
        if captured and e.key[1] in ("UPDATE", "DELETE") and ddl.same_name(_k(captured), e.key[2]):
            return None  # sqlmig puts back every row the batches changed (-- sqlmig:restore-captured)
        touching = [r for r in undone.dml.get(e.key[2], ()) if _same_rows(e, r)]
        if touching:
            return Finding(
                RULE,
                "info",
                path,
                line,
                f"forward {e.said}; the rollback changes the same table and columns (line "
                f"{touching[0].stmt.line}), but that it restores the data cannot be proven statically",
                "`sqlmig verify` compares the data on a scratch database",
            )
        return Finding(
            RULE,
            "warning",
            path,
            line,
            f"forward {e.said}; whether the rollback restores the data is not statically provable, and it "
            "does not touch those rows",
            "undo the data change in the rollback, or declare point_of_no_return if it cannot be undone; "
            "a batched UPDATE/DELETE can capture its rows (batch: {capture: true}) for a "
            "`-- sqlmig:restore-captured` rollback",
        )
    if undone.first(e.undo) is not None:
        return None
    if e.key[0] in ("create", "replace") and undone.cascade:
        return None
    return Finding(
        RULE,
        "error",
        path,
        line,
        f"forward {e.said}; rollback never {e.undo_said}",
        "add the statement that undoes it to the rollback file (in reverse order of the forward file)",
    )


def _same_rows(e: Effect, r: Effect) -> bool:
    """An UPDATE is undone by an UPDATE of the same columns; INSERT and DELETE work on whole rows."""
    if e.key[1] == r.key[1] == "UPDATE":
        return bool(set(e.key[3]) & set(r.key[3]))
    return True


def undoing_statements(forward: list[Statement], rollback: list[Statement]) -> set[int]:
    """Indexes of rollback statements that undo some effect of the forward file (for lint's SM502 behaviour)."""
    fwd, created, _ = forward_effects(forward)
    wanted: set[tuple] = set()
    for f in fwd:
        wanted.update((v, *f.undo[1:]) for v in f.undo[0]) if isinstance(f.undo[0], tuple) else wanted.add(f.undo)
    out = set()
    for i, stmt in enumerate(rollback):
        if any(r.key in wanted for r in effects(stmt)):
            out.add(i)
        a = ddl.describe(stmt)
        if a.kind == "DROP TABLE" and all(_k(t) in created for t in a.objects):
            out.add(i)
    return out


def check_migration(migration: Any, model: Any = None) -> list[Finding]:
    """SM501 findings for a sqlmig.project.Migration (the entry point for other tools)."""
    pnr = migration.manifest.point_of_no_return
    rollback = migration.rollback
    return prove(
        migration.up.statements,
        rollback.statements if rollback else None,
        forward_path=migration.up.display,
        rollback_path=rollback.display if rollback else f"rollback/{migration.stem}.sql",
        point_of_no_return=pnr.reason if pnr else None,
        model=model,
        captured=captured_table(migration.manifest, rollback.text if rollback else None),
    )


__all__ = [
    "RULE",
    "Effect",
    "captured_table",
    "check_migration",
    "effects",
    "forward_effects",
    "prove",
    "undoing_statements",
]
