"""Reading CREATE, ALTER and DROP statements (tables are in sqlmig.ddl.tables, the rest in sqlmig.ddl.other)."""

from __future__ import annotations

from sqlmig.ddl import Action, Anatomy
from sqlmig.ddl.cursor import Cursor
from sqlmig.ddl.other import DROP_ON, READERS

# ------------------------------------------------------------------ dispatch


def _describe(c: Cursor) -> Anatomy:
    head = c.word()
    if head == "CREATE":
        return _create(c)
    if head == "ALTER":
        return _alter(c)
    if head == "DROP":
        return _drop(c)
    if head in READERS:
        return READERS[head](c)
    if head == "WITH":
        return _with(c)
    return Anatomy(kind=head or "")


def _with(c: Cursor) -> Anatomy:
    """WITH … UPDATE/DELETE/INSERT: describe the main statement after the CTEs."""
    i = c.find_depth0({"UPDATE", "DELETE", "INSERT", "SELECT"}, start=c.i)
    if i is None:
        return Anatomy(kind="WITH")
    c.i = i
    got = _describe(c)
    return Anatomy(**{**got.__dict__, "flags": got.flags | {"WITH"}})


def _create(c: Cursor) -> Anatomy:
    flags = set()
    while True:
        if c.eat("OR", "REPLACE"):
            flags.add("OR REPLACE")
        elif c.at_any(
            "TEMP",
            "TEMPORARY",
            "UNLOGGED",
            "GLOBAL",
            "LOCAL",
            "UNIQUE",
            "MATERIALIZED",
            "RECURSIVE",
            "CONSTRAINT",
            "TRUSTED",
            "PROCEDURAL",
            "DEFAULT",
        ):
            flags.add({"TEMP": "TEMPORARY"}.get(c.peek(), c.peek()))
            c.i += 1
        else:
            break
    obj = c.word()
    if obj == "TABLE":
        from sqlmig.ddl.tables import create_table

        return create_table(c, flags)
    if obj == "INDEX":
        return _create_index(c, flags)
    if obj == "VIEW":
        return _create_view(c, flags)
    if obj in ("FUNCTION", "PROCEDURE", "AGGREGATE"):
        name = c.name()
        args = c.paren_text() if c.at_punct("L_PAREN") else ""
        return Anatomy(kind=f"CREATE {obj}", object=name, objects=(name,), flags=frozenset(flags), detail=args)
    if obj == "TRIGGER":
        name = c.name()
        on = c.find_depth0({"ON"}, start=c.i)
        table = None
        if on is not None:
            c.i = on + 1
            table = c.name()
        function = c.name() if c.skip_to("EXECUTE") and c.eat_any("FUNCTION", "PROCEDURE") else None
        return Anatomy(
            kind="CREATE TRIGGER", object=name, objects=(name,), table=table, flags=frozenset(flags), detail=function
        )
    if obj == "POLICY":
        name = c.name()
        table = c.name() if c.eat("ON") else None
        return Anatomy(kind="CREATE POLICY", object=name, objects=(name,), table=table, flags=frozenset(flags))
    if obj == "TYPE":
        name = c.name()
        labels: tuple[str, ...] = ()
        if c.eat("AS", "ENUM"):
            flags.add("ENUM")
            labels = c.strings_in_parens()
        elif c.eat("AS", "RANGE"):
            flags.add("RANGE")
        elif c.eat("AS"):
            flags.add("COMPOSITE")
        return Anatomy(kind="CREATE TYPE", object=name, objects=(name,), flags=frozenset(flags), targets=labels)
    if obj == "DOMAIN":
        name = c.name()
        if c.rest_has("CHECK"):
            flags.add("CHECK")
        return Anatomy(kind="CREATE DOMAIN", object=name, objects=(name,), flags=frozenset(flags))
    if obj in (
        "SEQUENCE",
        "SCHEMA",
        "EXTENSION",
        "STATISTICS",
        "COLLATION",
        "PUBLICATION",
        "SUBSCRIPTION",
        "DATABASE",
        "TABLESPACE",
        "ROLE",
        "USER",
        "CAST",
        "OPERATOR",
        "RULE",
        "SERVER",
    ):
        if c.eat("IF", "NOT", "EXISTS"):
            flags.add("IF NOT EXISTS")
        name = c.name()
        table = None
        if obj == "RULE" and c.skip_to("ON"):  # CREATE RULE r AS ON SELECT|INSERT|UPDATE|DELETE TO table
            c.word()
            table = c.name() if c.eat("TO") else None
        return Anatomy(
            kind=f"CREATE {obj}", object=name, objects=(name,) if name else (), table=table, flags=frozenset(flags)
        )
    if obj == "EVENT" and c.eat("TRIGGER"):
        name = c.name()
        return Anatomy(kind="CREATE EVENT TRIGGER", object=name, objects=(name,), flags=frozenset(flags))
    return Anatomy(kind=f"CREATE {obj or ''}".strip(), flags=frozenset(flags))


def _create_index(c: Cursor, flags: set[str]) -> Anatomy:
    if c.eat("CONCURRENTLY"):
        flags.add("CONCURRENTLY")
    if c.eat("IF", "NOT", "EXISTS"):
        flags.add("IF NOT EXISTS")
    name = None if c.at("ON") else c.name()
    c.eat("ON")
    if c.eat("ONLY"):
        flags.add("ONLY")
    table = c.name()
    if c.eat("USING"):
        flags.add("USING " + (c.word() or "").upper())
    elements = c.paren_items() if c.at_punct("L_PAREN") else ()
    where = c.text_after_depth0("WHERE")
    return Anatomy(
        kind="CREATE INDEX",
        object=name,
        objects=(name,) if name else (),
        table=table,
        flags=frozenset(flags),
        targets=elements,
        where=where,
    )


def _create_view(c: Cursor, flags: set[str]) -> Anatomy:
    if c.eat("IF", "NOT", "EXISTS"):
        flags.add("IF NOT EXISTS")
    name = c.name()
    kind = "CREATE MATERIALIZED VIEW" if "MATERIALIZED" in flags else "CREATE VIEW"
    return Anatomy(kind=kind, object=name, objects=(name,), flags=frozenset(flags), reads=c.relations_read())


# ------------------------------------------------------------------ ALTER


def _object_type(c: Cursor) -> str:
    """The object type after ALTER or DROP: TABLE, INDEX, MATERIALIZED VIEW, EVENT TRIGGER, FOREIGN TABLE…"""
    for pair in (("MATERIALIZED", "VIEW"), ("EVENT", "TRIGGER"), ("FOREIGN", "TABLE")):
        if c.eat(*pair):
            return " ".join(pair)
    return c.word() or ""


def _alter(c: Cursor) -> Anatomy:
    flags: set[str] = set()
    obj = _object_type(c)
    if c.eat("IF", "EXISTS"):
        flags.add("IF EXISTS")
    if obj in ("TABLE", "FOREIGN TABLE"):
        from sqlmig.ddl.tables import alter_table

        return alter_table(c, flags)
    if obj == "TYPE":
        return _alter_type(c, flags)
    if obj == "SYSTEM":
        return Anatomy(kind="ALTER SYSTEM", object=c.name())
    name = c.name()
    table = c.name() if obj in ("TRIGGER", "POLICY", "RULE") and c.eat("ON") else None
    if obj in ("FUNCTION", "PROCEDURE", "AGGREGATE") and c.at_punct("L_PAREN"):
        c.paren_text()
    action = _rename_or_move(c)
    actions = (action,) if action else ()
    return Anatomy(
        kind=f"ALTER {obj}",
        object=name,
        objects=(name,) if name else (),
        table=table,
        flags=frozenset(flags),
        actions=actions,
    )


def _rename_or_move(c: Cursor) -> Action | None:
    """The generic tail of ALTER <object>: RENAME TO, SET SCHEMA, OWNER TO, or something else."""
    pos = c.pos()
    if c.eat("RENAME", "TO"):
        return Action("RENAME TO", pos, new_name=c.name())
    if c.eat("SET", "SCHEMA"):
        return Action("SET SCHEMA", pos, new_name=c.name())
    if c.eat("OWNER", "TO"):
        return Action("OWNER TO", pos, new_name=c.name())
    if c.eat("ATTACH", "PARTITION"):
        return Action("ATTACH PARTITION", pos, name=c.name())
    words = c.rest_words()
    return Action(" ".join(words[:3]) or "OTHER", pos) if words else None


def _alter_type(c: Cursor, flags: set[str]) -> Anatomy:
    name = c.name()
    pos = c.pos()
    if c.eat("ADD", "VALUE"):
        if c.eat("IF", "NOT", "EXISTS"):
            flags.add("IF NOT EXISTS")
        label = c.string()
        if c.at_any("BEFORE", "AFTER"):
            flags.add(c.word() or "")
        return Anatomy(
            kind="ALTER TYPE",
            object=name,
            objects=(name,),
            flags=frozenset(flags),
            actions=(Action("ADD VALUE", pos, name=label),),
            targets=(label,) if label else (),
        )
    if c.eat("RENAME", "VALUE"):
        old = c.string()
        c.eat("TO")
        new = c.string()
        return Anatomy(
            kind="ALTER TYPE",
            object=name,
            objects=(name,),
            flags=frozenset(flags),
            actions=(Action("RENAME VALUE", pos, name=old, new_name=new),),
        )
    action = _rename_or_move(c)
    return Anatomy(
        kind="ALTER TYPE", object=name, objects=(name,), flags=frozenset(flags), actions=(action,) if action else ()
    )


# ------------------------------------------------------------------ DROP


def _drop(c: Cursor) -> Anatomy:
    flags: set[str] = set()
    obj = _object_type(c)
    if c.eat("CONCURRENTLY"):
        flags.add("CONCURRENTLY")
    if c.eat("IF", "EXISTS"):
        flags.add("IF EXISTS")
    names: list[str] = []
    table = None
    detail = None
    while not c.done():
        n = c.name()
        if not n:
            break
        names.append(n)
        if c.at_punct("L_PAREN"):  # DROP FUNCTION f(int)
            detail = c.paren_text()
        if obj in DROP_ON and c.eat("ON"):
            table = c.name()
        if not c.eat_punct("COMMA"):
            break
    rest = set(c.rest_words())
    flags |= rest & {"CASCADE", "RESTRICT"}
    return Anatomy(
        kind=f"DROP {obj}",
        object=names[0] if names else None,
        objects=tuple(names),
        table=table,
        flags=frozenset(flags),
        detail=detail,
    )
