"""Each statement reduced to effects: what it does to schema and data, each keyed by the effect that reverses it.

`("ADD COLUMN", "users", "email")` is undone by an effect keyed `("DROP COLUMN", "users", "email")`;
`forward_effects` nets a whole forward file (a DROP that clears the way for a CREATE of the same
object is part of the CREATE) and marks what happens to objects the file itself created, which
undoing their creation undoes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlmig import ddl, postgres
from sqlmig.sql import Statement


@dataclass(frozen=True)
class Effect:
    key: tuple  # ("ADD COLUMN", table, name) …
    undo: tuple  # the key of the effect that reverses it (a tuple of verbs first: any of them)
    said: str  # "adds column users.email"
    undo_said: str  # "drops it"
    stmt: Statement
    table: str | None = None  # the table it belongs to (dropping a forward-created table undoes it)
    within_new: bool = False  # on an object the forward file created: undone by undoing that creation


def _k(name: str | None) -> str:
    return (name or "?").removeprefix("public.")


_CREATE_KINDS = {
    "CREATE TABLE": "table",
    "CREATE VIEW": "view",
    "CREATE MATERIALIZED VIEW": "view",
    "CREATE FUNCTION": "function",
    "CREATE PROCEDURE": "function",
    "CREATE TYPE": "type",
    "CREATE SEQUENCE": "sequence",
    "CREATE EXTENSION": "extension",
    "CREATE SCHEMA": "schema",
    "CREATE DOMAIN": "domain",
    "CREATE INDEX": "index",
}
_DROP_KINDS = {k.replace("CREATE", "DROP", 1): v for k, v in _CREATE_KINDS.items()}
_ON_TABLE = ("CREATE TRIGGER", "CREATE POLICY", "CREATE RULE", "DROP TRIGGER", "DROP POLICY", "DROP RULE")


def effects(stmt: Statement, model: Any = None) -> list[Effect]:
    """What one statement does to the schema and data, each with the key of its inverse."""
    a = ddl.describe(stmt)
    kind = a.kind
    if kind in _CREATE_KINDS and "TEMPORARY" not in a.flags:
        return [_create(stmt, a, model)]
    if kind in _DROP_KINDS:
        what = _DROP_KINDS[kind]
        return [
            Effect(("drop", what, _k(n)), ("create", what, _k(n)), f"drops {what} {n}", "re-creates it", stmt)
            for n in a.objects
        ]
    if kind in _ON_TABLE:
        verb, what = kind.lower().split()
        if verb == "create" and "OR REPLACE" in a.flags:
            return []  # CREATE OR REPLACE RULE: the definition is `sqlmig verify`'s to prove
        undo = ("drop" if verb == "create" else "create", what, _k(a.table), a.object)
        said = f"{verb}s {what} {a.object} on {a.table}"
        return [
            Effect(
                (verb, what, _k(a.table), a.object),
                undo,
                said,
                "drops it" if verb == "create" else "re-creates it",
                stmt,
                a.table,
            )
        ]
    if kind == "ALTER TABLE":
        return _alter_table_effects(stmt, a)
    if kind == "ALTER TYPE":
        return _alter_type_effects(stmt, a)
    if kind in ("GRANT", "REVOKE") and a.objects:
        return _grant_effects(stmt, a)
    if kind in ("UPDATE", "DELETE", "INSERT", "TRUNCATE") and a.table:
        cols = f" ({', '.join(a.targets)})" if a.targets else ""
        verb = {"UPDATE": "updates", "DELETE": "deletes from", "INSERT": "inserts into", "TRUNCATE": "truncates"}[kind]
        key = ("dml", kind, _k(a.table), a.targets)
        return [Effect(key, ("dml-undo", _k(a.table)), f"{verb} {a.table}{cols}", "", stmt, a.table)]
    if kind.startswith("ALTER ") and a.object:
        what = kind[6:].lower()
        return [
            Effect(
                ("rename", what, _k(a.object), _k(act.new_name)),
                ("rename", what, _k(act.new_name), _k(a.object)),
                f"renames {what} {a.object} to {act.new_name}",
                "renames it back",
                stmt,
            )
            for act in a.actions
            if act.verb == "RENAME TO" and act.new_name
        ]
    return []


def _create(stmt: Statement, a: ddl.Anatomy, model: Any) -> Effect:
    what = _CREATE_KINDS[a.kind]
    name = a.object or (f"{a.table}_{a.targets[0]}_idx" if a.kind == "CREATE INDEX" and a.targets else None)
    if "OR REPLACE" in a.flags and model is not None and known(model, what, name):
        key = ("replace", what, _k(name))
        return Effect(key, key, f"replaces {what} {name}", "restores its previous definition", stmt)
    table = a.table if a.kind == "CREATE INDEX" else a.object if what == "table" else None
    return Effect(
        ("create", what, _k(name)), ("drop", what, _k(name)), f"creates {what} {name}", "drops it", stmt, table
    )


def known(model: Any, what: str, name: str | None) -> bool:
    """The schema model holds this object (so a DROP of it removes something that existed)."""
    mapping = {"view": "views", "function": "functions", "table": "tables", "index": "indexes"}.get(what)
    return bool(mapping) and model._find(getattr(model, mapping), name) is not None


def _alter_type_effects(stmt: Statement, a: ddl.Anatomy) -> list[Effect]:
    out = []
    for act in a.actions:
        if act.verb == "ADD VALUE":
            out.append(
                Effect(
                    ("enum value", _k(a.object), act.name),
                    ("impossible",),
                    f"adds value '{act.name}' to enum {a.object}",
                    "removes it",
                    stmt,
                )
            )
        elif act.verb == "RENAME VALUE":
            out.append(
                Effect(
                    ("rename value", _k(a.object), act.name, act.new_name),
                    ("rename value", _k(a.object), act.new_name, act.name),
                    f"renames value '{act.name}' of {a.object} to '{act.new_name}'",
                    "renames it back",
                    stmt,
                )
            )
    return out


def _grant_effects(stmt: Statement, a: ddl.Anatomy) -> list[Effect]:
    verb = a.kind.lower()
    out = []
    for obj in a.objects:
        for role in (a.detail or "").split(","):
            undo = ("revoke" if verb == "grant" else "grant", _k(obj), role)
            said = f"{verb}s {', '.join(a.targets)} on {obj} {'to' if verb == 'grant' else 'from'} {role}"
            out.append(
                Effect(
                    (verb, _k(obj), role), undo, said, "revokes it" if verb == "grant" else "grants it again", stmt, obj
                )
            )
    return out


_SIMPLE = {  # ALTER TABLE verb -> (inverse verb(s), said, undo said)
    "ADD COLUMN": (("DROP COLUMN",), "adds column", "drops it"),
    "DROP COLUMN": (("ADD COLUMN",), "drops column", "re-adds it"),
    "SET NOT NULL": (("DROP NOT NULL",), "sets NOT NULL on", "drops NOT NULL again"),
    "DROP NOT NULL": (("SET NOT NULL",), "drops NOT NULL on", "sets it again"),
    "SET DEFAULT": (("SET DEFAULT", "DROP DEFAULT"), "sets a default on", "restores the old default"),
    "DROP DEFAULT": (("SET DEFAULT",), "drops the default of", "restores it"),
    "ALTER COLUMN TYPE": (("ALTER COLUMN TYPE",), "changes the type of", "changes it back"),
    "ENABLE ROW LEVEL SECURITY": (("DISABLE ROW LEVEL SECURITY",), "enables row level security on", "disables it"),
    "DISABLE ROW LEVEL SECURITY": (
        ("ENABLE ROW LEVEL SECURITY",),
        "disables row level security on",
        "enables it again",
    ),
}


def _alter_table_effects(stmt: Statement, a: ddl.Anatomy) -> list[Effect]:
    t = _k(a.table)
    out = []
    for act in a.actions:
        v = act.verb
        if v in _SIMPLE:
            inverse, said, undo_said = _SIMPLE[v]
            what = f"{said} {a.table}.{act.column}" if act.column else f"{said} {a.table}"
            out.append(Effect((v, t, act.column), (inverse, t, act.column), what, undo_said, stmt, a.table))
        elif v in ("ADD CONSTRAINT", "DROP CONSTRAINT"):
            name = act.name or _constraint_name(a.table or "", act.constraint)
            add = v == "ADD CONSTRAINT"
            out.append(
                Effect(
                    (v, t, name),
                    ("DROP CONSTRAINT" if add else "ADD CONSTRAINT", t, name),
                    f"{'adds' if add else 'drops'} constraint {name} on {a.table}",
                    "drops it" if add else "re-adds it",
                    stmt,
                    a.table,
                )
            )
        elif v == "RENAME COLUMN":
            out.append(
                Effect(
                    (v, t, act.column, act.new_name),
                    (v, t, act.new_name, act.column),
                    f"renames column {a.table}.{act.column} to {act.new_name}",
                    "renames it back",
                    stmt,
                )
            )
        elif v == "RENAME TO":
            out.append(
                Effect(
                    ("rename", "table", t, _k(act.new_name)),
                    ("rename", "table", _k(act.new_name), t),
                    f"renames table {a.table} to {act.new_name}",
                    "renames it back",
                    stmt,
                )
            )
    return out


def _constraint_name(table: str, k: ddl.Constraint | None) -> str:
    """PostgreSQL's name for an unnamed constraint: users_email_key, users_pkey, orders_user_id_fkey…"""
    base = table.rsplit(".", 1)[-1]
    if k is None:
        return f"{base}_?"
    suffix = {"PRIMARY KEY": "pkey", "UNIQUE": "key", "FOREIGN KEY": "fkey", "CHECK": "check", "EXCLUDE": "excl"}
    cols = () if k.kind == "PRIMARY KEY" else k.columns
    return "_".join([base, *cols, suffix.get(k.kind, "con")])


class _NewColumns:
    """Columns the forward file added so far, by bare table name."""

    def __init__(self) -> None:
        self._by_table: dict[str, list[tuple[str, str]]] = {}

    def add(self, stmt: Statement) -> None:
        for table, column in postgres.created_columns(stmt):
            self._by_table.setdefault(_bare(table), []).append((table, column))

    def involved(self, table: str | None, names: Iterable[str]) -> bool:
        """Some of `names` is a column the file added to `table` (PostgreSQL's DROP COLUMN drops every index
        and constraint involving the column)."""
        if not table:
            return False
        mine = {c for t, c in self._by_table.get(_bare(table), ()) if ddl.same_name(_k(t), _k(table))}
        return bool(mine) and any(n in mine for n in names)


def _bare(name: str) -> str:
    return _k(name).rsplit(".", 1)[-1]


_IDENTIFIER = re.compile(r'"((?:[^"]|"")+)"|([^\W\d][\w$]*)')


def _names_in(expression: str | None) -> list[str]:
    """The identifiers an expression mentions (a CHECK's columns), folded as PostgreSQL does."""
    return [q.replace('""', '"') if q else ddl.fold(w) for q, w in _IDENTIFIER.findall(expression or "")]


def _within_new(e: Effect, new: _NewColumns) -> bool:
    """An effect on a column the file added earlier (its default, type, NOT NULL, a constraint or index on it):
    dropping the column takes it along, as PostgreSQL does."""
    a = ddl.describe(e.stmt)
    if a.kind == "CREATE INDEX":
        return new.involved(a.table, [n for t in a.targets for n in _names_in(t)])
    if a.kind != "ALTER TABLE" or e.key[0] == "ADD COLUMN":
        return False
    if e.key[0] in _SIMPLE or e.key[0] == "RENAME COLUMN":
        return new.involved(a.table, [e.key[2]])
    if e.key[0] == "ADD CONSTRAINT":
        for act in a.actions:
            k = act.constraint
            if act.verb == "ADD CONSTRAINT" and k and (k.name or _constraint_name(a.table or "", k)) == e.key[2]:
                return new.involved(a.table, [*k.columns, *_names_in(k.expression)])
    return False


def forward_effects(forward: list[Statement], model: Any = None) -> tuple[list[Effect], set[str], Any]:
    """The net effects of a forward file, the tables it creates, and the schema model after it.

    A DROP followed later in the file by a CREATE of the same object is one re-creation: when the object
    did not exist before (`DROP INDEX CONCURRENTLY IF EXISTS i` clearing a failed build, then the build)
    only the CREATE counts; when it did, neither does (a changed definition is `sqlmig verify`'s to prove).
    Effects on a column the file added are marked `within_new`. Linear in the file's length.
    """
    from sqlmig.lint.schema import SchemaModel

    state = model.fork() if model is not None else SchemaModel()
    out: dict[int, Effect] = {}  # in file order; a re-creation removes its DROP
    drops: dict[tuple, list[int]] = {}  # drop key -> its entries in `out`
    existed: set[tuple] = set()  # drop effects of objects the schema had before the file
    created_tables: set[str] = set()
    new = _NewColumns()
    for stmt in forward:
        for e in effects(stmt, state):
            if e.key[0] == "drop":
                if known(state, e.key[1], e.key[2]):
                    existed.add(e.key)
                drops.setdefault(e.key, []).append(len(out))
            elif e.key[0] == "create" and (earlier := drops.pop(("drop", *e.key[1:]), None)):
                for i in earlier:
                    out.pop(i, None)
                if ("drop", *e.key[1:]) in existed:
                    continue
            out[len(out)] = replace(e, within_new=True) if _within_new(e, new) else e
        new.add(stmt)
        if name := postgres.created_table(stmt):
            created_tables.add(_k(name))
        state.apply(ddl.describe(stmt))
    return list(out.values()), created_tables, state
