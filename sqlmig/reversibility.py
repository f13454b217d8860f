"""Does the rollback undo every effect of the forward SQL, in an order PostgreSQL accepts? Proven statically.

Each forward statement is reduced to effects with a key (`("column", "users", "email")`); each
effect has an inverse key that some rollback statement must produce (`DROP COLUMN email` on users).
Dropping a table the forward file created undoes everything on it. The rollback is then replayed
against the schema after the forward file to catch an order PostgreSQL refuses: a table dropped
before the view or the table that depends on it, a function before its trigger.

Findings are rule SM501 (`sqlmig lint --explain SM501`); `prove` is what lint and check call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmig import ddl
from sqlmig.findings import Finding
from sqlmig.sql import Statement

RULE = "SM501"


@dataclass(frozen=True)
class Effect:
    key: tuple  # ("column", table, name) …
    undo: tuple  # the key of the effect that reverses it
    said: str  # "adds column users.email"
    undo_said: str  # "drops it"
    stmt: Statement
    table: str | None = None  # the table it belongs to (dropping a forward-created table undoes it)


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


def _pair(stmt: Statement, key: tuple, undo: tuple, said: str, undo_said: str, table: str | None = None) -> Effect:
    return Effect(key, undo, said, undo_said, stmt, table)


def effects(stmt: Statement, model: Any = None) -> list[Effect]:
    """What one statement does to the schema and data, each with the key of its inverse."""
    a = ddl.describe(stmt)
    out: list[Effect] = []
    kind = a.kind
    if kind in _CREATE_KINDS and "TEMPORARY" not in a.flags:
        what = _CREATE_KINDS[kind]
        name = a.object or (f"{a.table}_{a.targets[0]}_idx" if kind == "CREATE INDEX" and a.targets else None)
        if "OR REPLACE" in a.flags and model is not None and _known(model, what, name):
            return [
                _pair(
                    stmt,
                    ("replace", what, _k(name)),
                    ("replace", what, _k(name)),
                    f"replaces {what} {name}",
                    "restores its previous definition",
                )
            ]
        out.append(
            _pair(
                stmt,
                ("create", what, _k(name)),
                ("drop", what, _k(name)),
                f"creates {what} {name}",
                "drops it",
                table=a.table if kind == "CREATE INDEX" else a.object if what == "table" else None,
            )
        )
    elif kind in _DROP_KINDS:
        what = _DROP_KINDS[kind]
        for name in a.objects:
            out.append(
                _pair(
                    stmt, ("drop", what, _k(name)), ("create", what, _k(name)), f"drops {what} {name}", "re-creates it"
                )
            )
    elif kind in ("CREATE TRIGGER", "CREATE POLICY", "DROP TRIGGER", "DROP POLICY"):
        verb, what = kind.lower().split()
        key = (verb, what, _k(a.table), a.object)
        undo = ("drop" if verb == "create" else "create", what, _k(a.table), a.object)
        out.append(
            _pair(
                stmt,
                key,
                undo,
                f"{verb}s {what} {a.object} on {a.table}",
                "drops it" if verb == "create" else "re-creates it",
                table=a.table,
            )
        )
    elif kind == "ALTER TABLE":
        out += _alter_table_effects(stmt, a, model)
    elif kind == "ALTER TYPE":
        for act in a.actions:
            if act.verb == "ADD VALUE":
                out.append(
                    _pair(
                        stmt,
                        ("enum value", _k(a.object), act.name),
                        ("impossible",),
                        f"adds value '{act.name}' to enum {a.object}",
                        "removes it",
                    )
                )
            elif act.verb == "RENAME VALUE":
                out.append(
                    _pair(
                        stmt,
                        ("rename value", _k(a.object), act.name, act.new_name),
                        ("rename value", _k(a.object), act.new_name, act.name),
                        f"renames value '{act.name}' of {a.object} to '{act.new_name}'",
                        "renames it back",
                    )
                )
    elif kind in ("GRANT", "REVOKE") and a.objects:
        verb = kind.lower()
        for obj in a.objects:
            for role in (a.detail or "").split(","):
                key = (verb, _k(obj), role)
                undo = ("revoke" if verb == "grant" else "grant", _k(obj), role)
                said = f"{verb}s {', '.join(a.targets)} on {obj} {'to' if verb == 'grant' else 'from'} {role}"
                out.append(
                    _pair(stmt, key, undo, said, "revokes it" if verb == "grant" else "grants it again", table=obj)
                )
    elif kind in ("UPDATE", "DELETE", "INSERT", "TRUNCATE") and a.table:
        cols = f" ({', '.join(a.targets)})" if a.targets else ""
        verb = {"UPDATE": "updates", "DELETE": "deletes from", "INSERT": "inserts into", "TRUNCATE": "truncates"}[kind]
        out.append(
            _pair(
                stmt,
                ("dml", kind, _k(a.table), a.targets),
                ("dml-undo", _k(a.table)),
                f"{verb} {a.table}{cols}",
                "",
                table=a.table,
            )
        )
    elif kind.startswith("ALTER ") and a.object:
        for act in a.actions:
            if act.verb == "RENAME TO" and act.new_name:
                what = kind[6:].lower()
                out.append(
                    _pair(
                        stmt,
                        ("rename", what, _k(a.object), _k(act.new_name)),
                        ("rename", what, _k(act.new_name), _k(a.object)),
                        f"renames {what} {a.object} to {act.new_name}",
                        "renames it back",
                    )
                )
    return out


def _known(model: Any, what: str, name: str | None) -> bool:
    mapping = {"view": "views", "function": "functions", "table": "tables", "index": "indexes"}.get(what)
    return bool(mapping) and model._find(getattr(model, mapping), name) is not None


_SIMPLE = {  # ALTER TABLE verb -> (key word, inverse verb(s), said, undo said)
    "ADD COLUMN": ("column+", ("DROP COLUMN",), "adds column", "drops it"),
    "DROP COLUMN": ("column-", ("ADD COLUMN",), "drops column", "re-adds it"),
    "SET NOT NULL": ("not null+", ("DROP NOT NULL",), "sets NOT NULL on", "drops NOT NULL again"),
    "DROP NOT NULL": ("not null-", ("SET NOT NULL",), "drops NOT NULL on", "sets it again"),
    "SET DEFAULT": ("default", ("SET DEFAULT", "DROP DEFAULT"), "sets a default on", "restores the old default"),
    "DROP DEFAULT": ("default", ("SET DEFAULT",), "drops the default of", "restores it"),
    "ALTER COLUMN TYPE": ("type", ("ALTER COLUMN TYPE",), "changes the type of", "changes it back"),
    "ENABLE ROW LEVEL SECURITY": (
        "rls+",
        ("DISABLE ROW LEVEL SECURITY",),
        "enables row level security on",
        "disables it",
    ),
    "DISABLE ROW LEVEL SECURITY": (
        "rls-",
        ("ENABLE ROW LEVEL SECURITY",),
        "disables row level security on",
        "enables it again",
    ),
}


def _alter_table_effects(stmt: Statement, a: ddl.Anatomy, model: Any) -> list[Effect]:
    t = _k(a.table)
    out = []
    for act in a.actions:
        v = act.verb
        if v in _SIMPLE:
            _, inverse, said, undo_said = _SIMPLE[v]
            out.append(
                Effect(
                    (v, t, act.column),
                    (inverse, t, act.column),
                    f"{said} {a.table}.{act.column}" if act.column else f"{said} {a.table}",
                    undo_said,
                    stmt,
                    a.table,
                )
            )
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


def _matches(undo: tuple, r: Effect) -> bool:
    """Whether a rollback effect `r` produces the inverse `undo` (verb alternatives allowed for ALTER TABLE)."""
    if isinstance(undo[0], tuple):
        return r.key[0] in undo[0] and r.key[1:] == undo[1:]
    return r.key == undo


def forward_effects(forward: list[Statement], model: Any = None) -> tuple[list[Effect], set[str], Any]:
    """The net effects of a forward file, the tables it creates, and the schema model after it.

    A DROP followed later in the file by a CREATE of the same object is one re-creation: when the object
    did not exist before (`DROP INDEX CONCURRENTLY IF EXISTS i` clearing a failed build, then the build)
    only the CREATE counts; when it did, neither does (a changed definition is `sqlmig verify`'s to prove).
    """
    from sqlmig.lint.schema import SchemaModel

    state = model.fork() if model is not None else SchemaModel()
    out: list[Effect] = []
    existed: set[tuple] = set()  # drop effects of objects the schema had before the file
    created_tables: set[str] = set()
    for stmt in forward:
        for e in effects(stmt, state):
            if e.key[0] == "drop" and _known(state, e.key[1], e.key[2]):
                existed.add(e.key)
            drops = [d for d in out if e.key[0] == "create" and d.key == ("drop", *e.key[1:])]
            if drops:
                out = [d for d in out if d not in drops]
                if any(d.key in existed for d in drops):
                    continue
            out.append(e)
        a = ddl.describe(stmt)
        if a.kind == "CREATE TABLE" and a.object:
            created_tables.add(_k(a.object))
        state.apply(a)
    return out, created_tables, state


def prove(
    forward: list[Statement],
    rollback: list[Statement] | None,
    *,
    forward_path: str,
    rollback_path: str,
    point_of_no_return: str | None = None,
    model: Any = None,
) -> list[Finding]:
    """SM501 findings for one migration: effects the rollback misses, data changes it cannot prove, bad order.

    `model`: a sqlmig.lint.schema.SchemaModel of the schema before the forward file (optional; it lets
    the proof know views and foreign keys from earlier migrations and what OR REPLACE replaced).
    """
    if point_of_no_return is not None:
        line = forward[0].line if forward else 1
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
        line = forward[0].line if forward else 1
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
    back = [e for stmt in rollback for e in effects(stmt, state)]
    out = [f for e in fwd if (f := _missing(e, back, created_tables, forward_path, rollback)) is not None]
    return out + _order(rollback, state, rollback_path)


def _missing(e: Effect, back: list[Effect], created: set[str], path: str, rollback: list[Statement]) -> Finding | None:
    line = e.stmt.line
    if e.table and e.key[:2] != ("create", "table") and (_k(e.table) in created or _dropped(e.table, rollback)):
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
        touching = [r for r in back if r.key[0] == "dml" and r.key[2] == e.key[2] and _same_rows(e, r)]
        if touching:
            return Finding(
                RULE,
                "info",
                path,
                line,
                f"forward {e.said}; the rollback changes the same table and columns (line {touching[0].stmt.line}), "
                "but that it restores the data cannot be proven statically",
                "`sqlmig verify` compares the data on a scratch database",
            )
        return Finding(
            RULE,
            "warning",
            path,
            line,
            f"forward {e.said}; whether the rollback restores the data is not statically provable, and it does "
            "not touch those rows",
            "undo the data change in the rollback, or declare point_of_no_return if it cannot be undone",
        )
    if any(_matches(e.undo, r) for r in back):
        return None
    if e.key[0] in ("create", "replace") and _dropped_by_cascade(e, back):
        return None
    return Finding(
        RULE,
        "error",
        path,
        line,
        f"forward {e.said}; rollback never {e.undo_said}",
        "add the statement that undoes it to the rollback file (in reverse order of the forward file)",
    )


def _dropped(relation: str, rollback: list[Statement]) -> bool:
    """The rollback drops this table, view or materialized view (and with it its indexes, triggers, columns)."""
    for stmt in rollback:
        a = ddl.describe(stmt)
        if a.kind in ("DROP TABLE", "DROP VIEW", "DROP MATERIALIZED VIEW") and any(
            ddl.same_name(relation, o) for o in a.objects
        ):
            return True
    return False


def _same_rows(e: Effect, r: Effect) -> bool:
    """An UPDATE is undone by an UPDATE of the same columns; INSERT and DELETE work on whole rows."""
    if e.key[1] == r.key[1] == "UPDATE":
        return bool(set(e.key[3]) & set(r.key[3]))
    return True


def _dropped_by_cascade(e: Effect, back: list[Effect]) -> bool:
    return any(r.key[0] == "drop" and "CASCADE" in ddl.describe(r.stmt).flags for r in back)


def _order(rollback: list[Statement], state: Any, path: str) -> list[Finding]:
    """Replay the rollback on the schema after the forward file; report what PostgreSQL would refuse."""
    out: list[Finding] = []
    dropped: dict[str, int] = {}
    for stmt in rollback:
        a = ddl.describe(stmt)
        cascade = "CASCADE" in a.flags
        if a.kind in ("DROP TABLE", "DROP VIEW", "DROP MATERIALIZED VIEW") and not cascade:
            for t in a.objects:
                out += _dependents(state, a.kind[5:].lower(), t, a.objects, stmt, path)
        if a.kind == "DROP FUNCTION" and not cascade:
            for (table, function), name in ((v, k) for k, v in state.triggers.items() if v is not None):
                if ddl.same_name(function, a.object):
                    out.append(
                        Finding(
                            RULE,
                            "error",
                            path,
                            stmt.line,
                            f"rollback drops function {a.object} before the "
                            f"trigger that uses it ({name.rsplit('.', 1)[-1]} on {table})",
                            "drop the trigger first",
                        )
                    )
        target = a.table if a.kind not in ("DROP TABLE", "CREATE TABLE") else None
        if target and _k(target) in dropped and "IF EXISTS" not in a.flags:
            out.append(
                Finding(
                    RULE,
                    "error",
                    path,
                    stmt.line,
                    f"rollback {a.kind.lower()} on {target} after dropping "
                    f"table {target} at line {dropped[_k(target)]}: it no longer exists",
                    "undo in reverse order: this statement before the DROP TABLE",
                )
            )
        if a.kind == "DROP TABLE":
            dropped.update({_k(t): stmt.line for t in a.objects})
        state.apply(a)
    return out


def _dependents(
    state: Any, what: str, table: str, dropped_together: Iterable[str], stmt: Statement, path: str
) -> list[Finding]:
    """Views that read `table` (a table or view) and tables whose foreign keys point at it, still there."""
    out = []
    together = [_k(t) for t in dropped_together]
    for view, reads in ((k, v) for k, v in state.views.items() if v is not None):
        if any(ddl.same_name(r, table) for r in reads) and view not in together:
            out.append(
                Finding(
                    RULE,
                    "error",
                    path,
                    stmt.line,
                    f"rollback drops {what} {table} before the view that depends on it ({view})",
                    f"drop the view {view} first",
                )
            )
    for name, t in ((k, v) for k, v in state.tables.items() if v is not None and what == "table"):
        if name in together or ddl.same_name(name, table):
            continue
        if any(ddl.same_name(target, table) for _, target, _ in t.fks):
            out.append(
                Finding(
                    RULE,
                    "error",
                    path,
                    stmt.line,
                    f"rollback drops table {table} before table {name} that references it",
                    f"drop {name} (or its foreign key) first",
                )
            )
    return out


def undoing_statements(forward: list[Statement], rollback: list[Statement]) -> set[int]:
    """Indexes of rollback statements that undo some effect of the forward file (for lint's SM502 behaviour)."""
    fwd, created, _ = forward_effects(forward)
    out = set()
    for i, stmt in enumerate(rollback):
        mine = effects(stmt)
        if any(_matches(f.undo, r) for f in fwd for r in mine):
            out.add(i)
        a = ddl.describe(stmt)
        if a.kind == "DROP TABLE" and all(_k(t) in created for t in a.objects):
            out.add(i)
    return out


def check_migration(migration: Any, model: Any = None) -> list[Finding]:
    """SM501 findings for a sqlmig.project.Migration (the entry point `sqlmig check` uses)."""
    pnr = migration.manifest.point_of_no_return
    return prove(
        migration.up.statements,
        migration.rollback.statements if migration.rollback else None,
        forward_path=migration.up.display,
        rollback_path=migration.rollback.display if migration.rollback else f"rollback/{migration.stem}.sql",
        point_of_no_return=pnr.reason if pnr else None,
        model=model,
    )
