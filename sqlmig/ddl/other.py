"""Reading data changes and the other statements lint reasons about: DML, TRUNCATE, LOCK, SET, COMMENT, GRANT,
REFRESH, REINDEX and maintenance."""

from __future__ import annotations

from typing import Any

from sqlmig.ddl import Anatomy
from sqlmig.ddl.cursor import Cursor, words_of

DROP_ON = {"TRIGGER", "POLICY", "RULE"}  # DROP/COMMENT ON <kind> name ON table


def _update(c: Cursor) -> Anatomy:
    flags = {"ONLY"} if c.eat("ONLY") else set()
    table = c.name()
    targets: list[str] = []
    i = c.find_depth0({"SET"}, start=c.i)
    if i is not None:
        c.i = i + 1
        for item in c.split_depth0_until({"FROM", "WHERE", "RETURNING"}):
            targets.extend(_assignment_targets(item))
    where = c.text_after_depth0("WHERE", stop={"RETURNING"})
    if where is not None:
        flags.add("WHERE")
    return Anatomy(
        kind="UPDATE",
        object=table,
        objects=(table,) if table else (),
        table=table,
        flags=frozenset(flags),
        targets=tuple(targets),
        where=where,
        reads=c.relations_read(),
    )


def _assignment_targets(item: list[Any]) -> list[str]:
    """`a = 1` -> [a]; `(a, b) = (…)` -> [a, b]; `a[1] = …` / `a.f = …` -> [a]."""
    if not item:
        return []
    sub = Cursor(item)
    if sub.at_punct("L_PAREN"):
        return [x.split(".")[0] for x in sub.paren_items()]
    n = sub.name()
    return [n.split(".")[0]] if n else []


def _delete(c: Cursor) -> Anatomy:
    c.eat("FROM")
    flags = {"ONLY"} if c.eat("ONLY") else set()
    table = c.name()
    where = c.text_after_depth0("WHERE", stop={"RETURNING"})
    if where is not None:
        flags.add("WHERE")
    return Anatomy(
        kind="DELETE",
        object=table,
        objects=(table,) if table else (),
        table=table,
        flags=frozenset(flags),
        where=where,
        reads=c.relations_read(),
    )


def _insert(c: Cursor) -> Anatomy:
    c.eat("INTO")
    table = c.name()
    if c.eat("AS"):
        c.name()
    cols = c.paren_items() if c.at_punct("L_PAREN") else ()
    flags = {"ON CONFLICT"} if c.rest_has("CONFLICT") else set()
    return Anatomy(
        kind="INSERT",
        object=table,
        objects=(table,) if table else (),
        table=table,
        flags=frozenset(flags),
        targets=tuple(x.split(".")[0] for x in cols),
    )


def _name_list(c: Cursor) -> list[str]:
    names = []
    while not c.done():
        c.eat("ONLY")
        n = c.name()
        if not n:
            break
        names.append(n)
        c.eat_punct("STAR")
        if not c.eat_punct("COMMA"):
            break
    return names


def _truncate(c: Cursor) -> Anatomy:
    c.eat("TABLE")
    names = _name_list(c)
    flags = set(c.rest_words()) & {"CASCADE", "RESTRICT", "RESTART", "CONTINUE"}
    return Anatomy(
        kind="TRUNCATE",
        object=names[0] if names else None,
        objects=tuple(names),
        table=names[0] if names else None,
        flags=frozenset(flags),
    )


def _lock(c: Cursor) -> Anatomy:
    c.eat("TABLE")
    names = _name_list(c)
    mode = "ACCESS EXCLUSIVE"
    if c.eat("IN"):
        words = []
        while not c.done() and not c.at("MODE"):
            words.append(c.word() or "")
        mode = " ".join(words)
    return Anatomy(
        kind="LOCK",
        object=names[0] if names else None,
        objects=tuple(names),
        table=names[0] if names else None,
        detail=mode,
        flags=frozenset({"NOWAIT"} if c.rest_has("NOWAIT") else set()),
    )


def _set(c: Cursor) -> Anatomy:
    flags = set()
    if c.at_any("LOCAL", "SESSION"):
        flags.add(c.word() or "")
    name = c.name()
    c.eat("TO") or c.eat_punct("EQ")
    return Anatomy(kind="SET", object=name, flags=frozenset(flags), detail=c.rest_text())


def _reset(c: Cursor) -> Anatomy:
    return Anatomy(kind="RESET", object=c.name())


def _comment(c: Cursor) -> Anatomy:
    c.eat("ON")
    obj = c.word() or ""
    if obj == "MATERIALIZED" and c.eat("VIEW"):
        obj = "MATERIALIZED VIEW"
    name = c.name()
    table = name.rsplit(".", 1)[0] if obj == "COLUMN" and name and "." in name else None
    if obj in ("TABLE", "VIEW", "MATERIALIZED VIEW"):
        table = name
    if obj in DROP_ON | {"CONSTRAINT"} and c.eat("ON"):
        table = c.name()
    return Anatomy(kind="COMMENT", object=name, objects=(name,) if name else (), table=table, flags=frozenset({obj}))


def _grant(c: Cursor, kind: str) -> Anatomy:
    start = c.i
    on = c.find_depth0({"ON"}, start=c.i)
    if on is None:  # GRANT role TO role
        return Anatomy(kind=kind, flags=frozenset({"ROLE"}))
    privileges = tuple(sorted({w for w in words_of(c.tokens[start:on])} - {"GRANT", "OPTION", "FOR"}))
    c.i = on + 1
    objtype = "TABLE"
    if c.at_any(
        "TABLE",
        "SEQUENCE",
        "FUNCTION",
        "PROCEDURE",
        "ROUTINE",
        "SCHEMA",
        "DATABASE",
        "TYPE",
        "DOMAIN",
        "LANGUAGE",
        "TABLESPACE",
        "ALL",
        "FOREIGN",
        "LARGE",
    ):
        objtype = c.word() or "TABLE"
        if objtype == "ALL":
            c.skip_to("IN")
            c.eat("SCHEMA")
            objtype = "ALL IN SCHEMA"
    names = []
    while not c.done() and not c.at_any("TO", "FROM"):
        n = c.name()
        if not n:
            c.i += 1
            continue
        names.append(n)
        if c.at_punct("L_PAREN"):
            c.paren_text()
        c.eat_punct("COMMA")
    c.eat_any("TO", "FROM")
    roles = []
    while not c.done():
        c.eat("GROUP")
        role = c.name()
        if role:
            roles.append(role)
        if not c.eat_punct("COMMA"):
            break
    return Anatomy(
        kind=kind,
        object=names[0] if names else None,
        objects=tuple(names),
        table=names[0] if names and objtype == "TABLE" else None,
        flags=frozenset({objtype}),
        targets=privileges,
        detail=",".join(roles),
    )


def _refresh(c: Cursor) -> Anatomy:
    c.eat("MATERIALIZED", "VIEW")
    flags = {"CONCURRENTLY"} if c.eat("CONCURRENTLY") else set()
    name = c.name()
    return Anatomy(kind="REFRESH MATERIALIZED VIEW", object=name, objects=(name,), table=name, flags=frozenset(flags))


def _reindex(c: Cursor) -> Anatomy:
    flags = set()
    if c.at_punct("L_PAREN"):
        opts = c.paren_text().upper()
        if "CONCURRENTLY" in opts:
            flags.add("CONCURRENTLY")
    scope = c.word() or ""
    if c.eat("CONCURRENTLY"):
        flags.add("CONCURRENTLY")
    name = c.name()
    return Anatomy(
        kind="REINDEX",
        object=name,
        objects=(name,) if name else (),
        table=name if scope == "TABLE" else None,
        flags=frozenset(flags | {scope}),
    )


def _maintenance(kind: str):
    """VACUUM / ANALYZE / CLUSTER [options] [tables]: the tables and the words that matter."""

    def read(c: Cursor) -> Anatomy:
        flags = set()
        if c.at_punct("L_PAREN"):
            flags |= {w for w in c.paren_text().upper().replace(",", " ").split()}
        while c.at_any("FULL", "FREEZE", "VERBOSE", "ANALYZE", "ANALYSE"):
            flags.add(c.word() or "")
        names = _name_list(c)
        flags |= {"USING"} if c.rest_has("USING") else set()
        return Anatomy(
            kind=kind,
            object=names[0] if names else None,
            objects=tuple(names),
            table=names[0] if names else None,
            flags=frozenset(flags),
        )

    return read


READERS = {
    "UPDATE": _update,
    "DELETE": _delete,
    "INSERT": _insert,
    "TRUNCATE": _truncate,
    "LOCK": _lock,
    "SET": _set,
    "RESET": _reset,
    "COMMENT": _comment,
    "GRANT": lambda c: _grant(c, "GRANT"),
    "REVOKE": lambda c: _grant(c, "REVOKE"),
    "REFRESH": _refresh,
    "REINDEX": _reindex,
    "VACUUM": _maintenance("VACUUM"),
    "ANALYZE": _maintenance("ANALYZE"),
    "ANALYSE": _maintenance("ANALYZE"),
    "CLUSTER": _maintenance("CLUSTER"),
}
