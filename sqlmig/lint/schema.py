"""A schema model built by replaying migrations statically: what existed before the statement being linted.

It answers sqlmig.postgres.Facts questions (a column's type, a validated NOT NULL check, a
partitioned table, a foreign key's target) so rules can tell the safe multi-step recipes
from the dangerous single statements, without a database. Values are immutable and every
map is a ChainMap, so `fork()` is cheap: a rollback is linted on a fork of the schema after
its forward migration, and what it does never leaks into the next migration.

Dropping an object drops what PostgreSQL drops with it: DROP TABLE (or VIEW) its indexes and
triggers (its constraints live in the table), and with CASCADE the views built on it and the
foreign keys that reference it; DROP FUNCTION … CASCADE the triggers that call it. `deps` indexes
those dependents by the bare name of what they depend on, so each drop finds them without a scan.
"""

from __future__ import annotations

import re
from collections import ChainMap
from dataclasses import dataclass, replace
from typing import Any

from sqlmig.ddl import Anatomy, ColumnDef, Constraint, same_name
from sqlmig.postgres import Facts


@dataclass(frozen=True)
class Check:
    name: str
    expression: str
    valid: bool


@dataclass(frozen=True)
class Table:
    columns: tuple[tuple[str, str], ...] = ()  # (name, type)
    checks: tuple[Check, ...] = ()
    fks: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (constraint, target table, columns)
    partitioned: bool = False

    def column(self, name: str) -> str | None:
        return next((t for c, t in self.columns if c == name), None)


@dataclass(frozen=True)
class Index:
    table: str
    columns: tuple[str, ...]
    unique: bool = False


def _key(name: str | None) -> str:
    return (name or "").removeprefix("public.")


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1]


class SchemaModel(Facts):
    def __init__(self, parent: SchemaModel | None = None) -> None:
        def chain(attr: str) -> ChainMap:
            return getattr(parent, attr).new_child() if parent else ChainMap()

        self.tables: ChainMap[str, Table] = chain("tables")
        self.indexes: ChainMap[str, Index] = chain("indexes")
        self.domains: ChainMap[str, bool] = chain("domains")  # name -> has a CHECK
        self.enums: ChainMap[str, tuple[str, ...]] = chain("enums")
        self.views: ChainMap[str, tuple[str, ...]] = chain("views")  # name -> relations it reads
        self.triggers: ChainMap[str, tuple[str, str]] = chain("triggers")  # "table.trigger" -> (table, function)
        self.functions: ChainMap[str, bool] = chain("functions")
        # "<relation>:<bare name>" -> (map, key) of each object that may depend on it: "on:users" its indexes
        # and triggers, "read:users" views reading it, "ref:users" tables referencing it, "fn:f" triggers
        # calling f. Candidates only: each is checked against the maps when used.
        self.deps: ChainMap[str, tuple[tuple[str, str], ...]] = chain("deps")

    _MAPS = ("tables", "indexes", "domains", "enums", "views", "triggers", "functions", "deps")

    def fork(self) -> SchemaModel:
        """A child model: reads fall through to this one, writes stay in the child (see absorb)."""
        return SchemaModel(self)

    def absorb(self, child: SchemaModel) -> None:
        """Apply what a fork of this model changed, so chains of forks never grow deep."""
        for attr in self._MAPS:
            mine = getattr(self, attr)
            for k, v in getattr(child, attr).maps[0].items():
                if v is None:
                    self._drop(mine, k)
                else:
                    mine[k] = v

    # ---------------------------------------------------------------- lookups
    def _find(self, mapping: ChainMap, name: str | None) -> str | None:
        """The key under which `name` lives (a tombstone None means dropped in a fork)."""
        key = _key(name)
        if mapping.get(key) is not None:
            return key
        if "." not in key:
            return next((k for k, v in mapping.items() if v is not None and k.rsplit(".", 1)[-1] == key), None)
        return None

    def table(self, name: str | None) -> Table | None:
        k = self._find(self.tables, name)
        return self.tables[k] if k else None

    def column_type(self, table: str, column: str) -> str | None:
        t = self.table(table)
        return t.column(column) if t else None

    def column_has_check(self, table: str, column: str) -> bool:
        t = self.table(table)
        pattern = re.compile(rf"(?<![\w.]){re.escape(column)}(?!\w)", re.I)
        return bool(t) and any(pattern.search(c.expression) for c in t.checks)

    def has_valid_not_null_check(self, table: str, column: str) -> bool:
        t = self.table(table)
        return bool(t) and any(c.valid and proves_not_null(c.expression, column) for c in t.checks)

    def is_partitioned(self, table: str) -> bool:
        t = self.table(table)
        return bool(t and t.partitioned)

    def domain_has_check(self, type_name: str) -> bool:
        k = self._find(self.domains, type_name)
        return bool(k and self.domains[k])

    def foreign_key_target(self, table: str, constraint: str) -> str | None:
        t = self.table(table)
        return next((target for name, target, _ in t.fks if name == constraint), None) if t else None

    def index_table(self, index: str) -> str | None:
        k = self._find(self.indexes, index)
        return self.indexes[k].table if k else None

    def has_index_on(self, table: str, columns: tuple[str, ...]) -> bool:
        """An index (or PK/UNIQUE) whose leading columns are `columns`, in any order."""
        want = set(columns)
        for ix in self.indexes.values():
            if ix is not None and same_name(_key(ix.table), _key(table)) and set(ix.columns[: len(want)]) == want:
                return True
        return False

    def views_reading(self, relation: str) -> list[str]:
        """Views (and materialized views) that read `relation`, as the model stands."""
        return [
            k
            for attr, k in self._candidates("read", relation)
            if any(same_name(r, relation) for r in self.views.get(k) or ())
        ]

    def tables_referencing(self, table: str) -> list[str]:
        """Tables other than `table` whose foreign keys point at it."""
        out = []
        for _, k in self._candidates("ref", table):
            t = self.tables.get(k)
            if t is not None and not same_name(k, _key(table)) and any(same_name(x, table) for _, x, _ in t.fks):
                out.append(k)
        return out

    def triggers_using(self, function: str) -> list[tuple[str, str]]:
        """(trigger key "table.name", table) of the triggers that call `function`."""
        found = []
        for _, k in self._candidates("fn", function):
            trig = self.triggers.get(k)
            if trig is not None and same_name(trig[1], function):
                found.append((k, trig[0]))
        return found

    # ---------------------------------------------------------------- replay
    def apply(self, a: Anatomy) -> list[tuple[str, str]]:
        """Update the model with what one statement does (best effort; unknown statements change nothing).

        Returns what the statement dropped besides the objects it names, as (map, key): a table's indexes
        and triggers, the dependents of a CASCADE."""
        handler = _HANDLERS.get(a.kind)
        return (handler(self, a) or []) if handler else []

    def _depends(self, relation: str, name: str | None, attr: str, key: str) -> None:
        if name:
            slot = f"{relation}:{_bare(name)}"
            here = self.deps.get(slot) or ()
            if (attr, key) not in here:
                self.deps[slot] = (*here, (attr, key))

    def _candidates(self, relation: str, name: str | None) -> tuple[tuple[str, str], ...]:
        return (self.deps.get(f"{relation}:{_bare(name)}") or ()) if name else ()

    def _drop_relation(self, kind: str, name: str, cascade: bool) -> list[tuple[str, str]]:
        """Drop a table or view (`kind`: its map) with what PostgreSQL drops along: its indexes and triggers;
        with CASCADE the views that read it (and theirs) and the foreign keys pointing at it."""
        gone: list[tuple[str, str]] = []
        self._drop(getattr(self, kind), name)
        for attr, k in self._candidates("on", name):
            owner = self.indexes[k].table if attr == "indexes" and self.indexes.get(k) else None
            if attr == "triggers" and self.triggers.get(k):
                owner = self.triggers[k][0]
            if owner and same_name(owner, name):
                self._drop(getattr(self, attr), k)
                gone.append((attr, k))
        if cascade:
            for view in self.views_reading(name):
                gone += [("views", view), *self._drop_relation("views", view, cascade)]
            for k in self.tables_referencing(name):
                t = self.tables[k]
                self.tables[k] = replace(t, fks=tuple(f for f in t.fks if not same_name(f[1], name)))
        return gone

    def _set_table(self, name: str | None, table: Table) -> None:
        if name:
            self.tables[self._find(self.tables, name) or _key(name)] = table

    def _drop(self, mapping: ChainMap, name: str | None) -> None:
        k = self._find(mapping, name)
        if k is None:
            return
        if any(k in parent for parent in mapping.maps[1:]):
            mapping.maps[0][k] = None  # a tombstone: a fork cannot delete from the schema it forked
        else:
            mapping.maps[0].pop(k, None)


def proves_not_null(expression: str, column: str) -> bool:
    """Whether a CHECK expression is exactly `column IS NOT NULL` (parentheses and quotes aside)."""
    text = re.sub(r'[()"\s]+', " ", expression).strip().lower()
    return text == f"{column.lower()} is not null"


def _default_name(table: str, columns: tuple[str, ...] | list[str], suffix: str) -> str:
    return "_".join([table.rsplit(".", 1)[-1], *columns, suffix])


def _add_constraint(m: SchemaModel, table: str, t: Table, k: Constraint) -> Table:
    if k.kind in ("CHECK", "NOT NULL"):
        expr = k.expression if k.kind == "CHECK" else f"{k.columns[0] if k.columns else ''} IS NOT NULL"
        name = k.name or _default_name(table, k.columns or ("check",), "check")
        return replace(t, checks=(*t.checks, Check(name, expr or "", not k.not_valid and not k.not_enforced)))
    if k.kind == "FOREIGN KEY" and k.references:
        name = k.name or _default_name(table, k.columns, "fkey")
        m._depends("ref", k.references, "tables", _key(table))
        return replace(t, fks=(*t.fks, (name, k.references, k.columns)))
    if k.kind in ("UNIQUE", "PRIMARY KEY"):
        name = k.using_index or k.name or _default_name(table, k.columns, "pkey" if k.kind == "PRIMARY KEY" else "key")
        old = m.indexes.get(_key(name))
        cols = old.columns if (old and not k.columns) else k.columns
        _set_index(m, name, Index(table, cols, True))
    return t


def _set_index(m: SchemaModel, name: str, index: Index) -> None:
    m.indexes[_key(name)] = index
    m._depends("on", index.table, "indexes", _key(name))


def _add_column(m: SchemaModel, table: str, t: Table, col: ColumnDef) -> Table:
    t = replace(t, columns=(*[(c, ty) for c, ty in t.columns if c != col.name], (col.name, col.type)))
    if col.check:
        t = replace(t, checks=(*t.checks, Check(_default_name(table, (col.name,), "check"), col.check, True)))
    if col.not_null:
        t = replace(t, checks=(*t.checks, Check(f"{col.name} not null", f"{col.name} IS NOT NULL", True)))
    if col.references:
        t = replace(t, fks=(*t.fks, (_default_name(table, (col.name,), "fkey"), col.references, (col.name,))))
        m._depends("ref", col.references, "tables", _key(table))
    if col.primary_key or col.unique:
        name = _default_name(table, () if col.primary_key else (col.name,), "pkey" if col.primary_key else "key")
        _set_index(m, name, Index(table, (col.name,), True))
    return t


def _create_table(m: SchemaModel, a: Anatomy) -> None:
    if not a.object or "TEMPORARY" in a.flags:
        return
    t = Table(partitioned="PARTITIONED" in a.flags)
    for col in a.columns:
        t = _add_column(m, a.object, t, col)
    for k in a.constraints:
        t = _add_constraint(m, a.object, t, k)
    m._set_table(a.object, t)


def _alter_table(m: SchemaModel, a: Anatomy) -> None:
    name = a.table
    t = m.table(name) or Table()
    for act in a.actions:
        v = act.verb
        if v == "ADD COLUMN" and act.coldef:
            t = _add_column(m, name or "", t, act.coldef)
        elif v == "DROP COLUMN":
            t = replace(t, columns=tuple((c, ty) for c, ty in t.columns if c != act.column))
        elif v == "ALTER COLUMN TYPE":
            t = replace(t, columns=tuple((c, act.type if c == act.column else ty) for c, ty in t.columns))
        elif v == "SET NOT NULL":
            t = replace(t, checks=(*t.checks, Check(f"{act.column} not null", f"{act.column} IS NOT NULL", True)))
        elif v == "ADD CONSTRAINT" and act.constraint:
            t = _add_constraint(m, name or "", t, act.constraint)
        elif v == "VALIDATE CONSTRAINT":
            t = replace(t, checks=tuple(replace(c, valid=True) if c.name == act.name else c for c in t.checks))
        elif v == "DROP CONSTRAINT":
            t = replace(
                t,
                checks=tuple(c for c in t.checks if c.name != act.name),
                fks=tuple(f for f in t.fks if f[0] != act.name),
            )
            if act.name:
                m._drop(m.indexes, act.name)
        elif v == "RENAME COLUMN":
            t = replace(t, columns=tuple((act.new_name if c == act.column else c, ty) for c, ty in t.columns))
        elif v == "RENAME CONSTRAINT":
            t = replace(t, checks=tuple(replace(c, name=act.new_name) if c.name == act.name else c for c in t.checks))
    m._set_table(name, t)
    for act in a.actions:
        if act.verb == "RENAME TO" and act.new_name and name:
            m._drop(m.tables, name)
            m._set_table(act.new_name, t)


def _create_index(m: SchemaModel, a: Anatomy) -> None:
    if a.table:
        name = a.object or _default_name(a.table, a.targets[:1], "idx")
        _set_index(m, name, Index(a.table, tuple(a.targets), "UNIQUE" in a.flags))


def _drops(attr: str):
    def drop(m: SchemaModel, a: Anatomy) -> list[tuple[str, str]]:
        for name in a.objects:
            m._drop(getattr(m, attr), name)
        return []

    return drop


def _drop_relations(m: SchemaModel, a: Anatomy) -> list[tuple[str, str]]:
    """DROP TABLE / VIEW / MATERIALIZED VIEW, with what goes along (see SchemaModel._drop_relation)."""
    gone: list[tuple[str, str]] = []
    for name in a.objects:
        gone += m._drop_relation("tables" if a.kind == "DROP TABLE" else "views", name, "CASCADE" in a.flags)
    return gone


def _drop_functions(m: SchemaModel, a: Anatomy) -> list[tuple[str, str]]:
    gone: list[tuple[str, str]] = []
    for name in a.objects:
        m._drop(m.functions, name)
        if "CASCADE" in a.flags:
            for k, _ in m.triggers_using(name):
                m._drop(m.triggers, k)
                gone.append(("triggers", k))
    return gone


def _create_domain(m: SchemaModel, a: Anatomy) -> None:
    if a.object:
        m.domains[_key(a.object)] = "CHECK" in a.flags


def _alter_domain(m: SchemaModel, a: Anatomy) -> None:
    if a.object and any(x.verb.startswith("ADD") for x in a.actions):
        m.domains[_key(a.object)] = True


def _create_type(m: SchemaModel, a: Anatomy) -> None:
    if a.object and "ENUM" in a.flags:
        m.enums[_key(a.object)] = a.targets


def _alter_type(m: SchemaModel, a: Anatomy) -> None:
    k = m._find(m.enums, a.object)
    if k and a.targets and any(x.verb == "ADD VALUE" for x in a.actions):
        m.enums[k] = (*m.enums[k], *a.targets)


def _create_view(m: SchemaModel, a: Anatomy) -> None:
    if a.object:
        m.views[_key(a.object)] = a.reads
        for relation in a.reads:
            m._depends("read", relation, "views", _key(a.object))


def _create_trigger(m: SchemaModel, a: Anatomy) -> None:
    if a.object and a.table:
        key = f"{_key(a.table)}.{a.object}"
        m.triggers[key] = (a.table, a.detail or "")
        m._depends("on", a.table, "triggers", key)
        m._depends("fn", a.detail, "triggers", key)


def _drop_trigger(m: SchemaModel, a: Anatomy) -> None:
    if a.object and a.table:
        m._drop(m.triggers, f"{_key(a.table)}.{a.object}")


def _create_function(m: SchemaModel, a: Anatomy) -> None:
    if a.object:
        m.functions[_key(a.object)] = True


def _alter_index(m: SchemaModel, a: Anatomy) -> None:
    k = m._find(m.indexes, a.object)
    for act in a.actions:
        if k and act.verb == "RENAME TO" and act.new_name:
            ix = m.indexes[k]
            m._drop(m.indexes, k)
            _set_index(m, act.new_name, ix)


_HANDLERS: dict[str, Any] = {
    "CREATE TABLE": _create_table,
    "ALTER TABLE": _alter_table,
    "DROP TABLE": _drop_relations,
    "CREATE INDEX": _create_index,
    "DROP INDEX": _drops("indexes"),
    "ALTER INDEX": _alter_index,
    "CREATE DOMAIN": _create_domain,
    "ALTER DOMAIN": _alter_domain,
    "DROP DOMAIN": _drops("domains"),
    "CREATE TYPE": _create_type,
    "ALTER TYPE": _alter_type,
    "DROP TYPE": _drops("enums"),
    "CREATE VIEW": _create_view,
    "CREATE MATERIALIZED VIEW": _create_view,
    "DROP VIEW": _drop_relations,
    "DROP MATERIALIZED VIEW": _drop_relations,
    "CREATE TRIGGER": _create_trigger,
    "DROP TRIGGER": _drop_trigger,
    "CREATE FUNCTION": _create_function,
    "CREATE PROCEDURE": _create_function,
    "DROP FUNCTION": _drop_functions,
    "DROP PROCEDURE": _drops("functions"),
}
