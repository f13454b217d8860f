"""What a statement says, read from its sqlglot tokens: the objects it names and, for ALTER TABLE, each action.

Token-level on purpose: sqlglot's parser gives up (an opaque Command) on many of the
statements that matter most for locks (VALIDATE CONSTRAINT, ATTACH PARTITION, ADD … USING
INDEX, ALTER TYPE … ADD VALUE, policies, REINDEX, VACUUM, LOCK). A linter must not go
blind exactly there, so this reader follows PostgreSQL's grammar just far enough to name
things. What PostgreSQL *does* with a statement is sqlmig.postgres's business, not this one's.

Names are normalised like PostgreSQL does: unquoted identifiers are lower-cased, quoted
ones kept as written; a qualified name is joined with dots (`public.users`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmig.ddl.cursor import Cursor, expand, has_pair, words_of

if TYPE_CHECKING:
    from sqlmig.sql import Statement


@dataclass(frozen=True)
class ColumnDef:
    """A column as declared in CREATE TABLE or ADD COLUMN."""

    name: str
    type: str  # lower-cased, as written: "varchar(10)", "numeric(12,2)[]"
    default: str | None = None  # the default expression's text
    default_functions: tuple[str, ...] = ()  # functions the default calls (lower-case, unqualified)
    not_null: bool = False
    primary_key: bool = False
    unique: bool = False
    references: str | None = None
    check: str | None = None
    generated: str | None = None  # "stored" | "virtual" | "identity"
    pos: int = 0  # offset in the statement text


@dataclass(frozen=True)
class Constraint:
    """A table constraint (CREATE TABLE element or ADD CONSTRAINT)."""

    kind: str  # CHECK | FOREIGN KEY | UNIQUE | PRIMARY KEY | EXCLUDE | NOT NULL
    name: str | None = None
    columns: tuple[str, ...] = ()
    references: str | None = None
    expression: str | None = None  # the CHECK body
    not_valid: bool = False
    not_enforced: bool = False
    using_index: str | None = None


@dataclass(frozen=True)
class Action:
    """One ALTER TABLE subcommand. `verb` is canonical: 'ADD COLUMN', 'ALTER COLUMN TYPE', 'VALIDATE CONSTRAINT'…"""

    verb: str
    pos: int = 0
    column: str | None = None
    name: str | None = None  # constraint, trigger, partition or new name, by verb
    new_name: str | None = None
    type: str | None = None
    expression: str | None = None
    functions: tuple[str, ...] = ()
    coldef: ColumnDef | None = None
    constraint: Constraint | None = None
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Anatomy:
    """The parts of one statement that rules, locks and reversibility reason about."""

    kind: str  # "CREATE TABLE", "ALTER TABLE", "UPDATE", … ("" when unrecognised)
    object: str | None = None  # what it creates, alters or drops (first name for lists)
    objects: tuple[str, ...] = ()  # every name of DROP … a, b / TRUNCATE a, b / LOCK a, b
    table: str | None = None  # the table acted on: index/trigger/policy table, DML target
    flags: frozenset[str] = frozenset()
    actions: tuple[Action, ...] = ()
    columns: tuple[ColumnDef, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    parent: str | None = None  # CREATE TABLE … PARTITION OF parent
    reads: tuple[str, ...] = ()  # relations a view or DML reads (FROM / JOIN)
    targets: tuple[str, ...] = ()  # UPDATE SET columns, INSERT columns, index elements, enum labels, privileges
    detail: str | None = None  # parameter value of SET, lock mode of LOCK, argument list of a function
    where: str | None = None  # WHERE text of UPDATE/DELETE/CREATE INDEX
    pos: int = 0

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def verbs(self) -> tuple[str, ...]:
        return tuple(x.verb for x in self.actions)


_CACHE: dict[str, Anatomy] = {}


def describe(stmt: Statement) -> Anatomy:
    """The anatomy of a statement (cached by its text). Never raises: unknown shapes get kind ''."""
    got = _CACHE.get(stmt.text)
    if got is None:
        tokens = tokens_of(stmt)
        try:
            got = _describe(Cursor(tokens))
        except IndexError:  # a statement cut short; name what was read so far
            got = Anatomy(kind=" ".join(words_of(tokens)[:2]))
        _CACHE[stmt.text] = got
    return got


_TOKENS: dict[str, list[Any]] = {}
_WORDS: dict[str, list[str]] = {}


def tokens_of(stmt: Statement) -> list[Any]:
    """The statement's tokens with sqlglot's command strings re-tokenized (see cursor.expand), cached by text.

    Offsets are those of the first statement seen with this text; describe() keeps only offsets
    relative to the statement, so the cache is safe for it."""
    got = _TOKENS.get(stmt.text)
    if got is None:
        got = _TOKENS[stmt.text] = expand(stmt.tokens, stmt.text)
    return got


def words(stmt: Statement) -> list[str]:
    """Every keyword-shaped word of the statement, upper-cased (quoted names and strings left out)."""
    got = _WORDS.get(stmt.text)
    if got is None:
        got = _WORDS[stmt.text] = words_of(tokens_of(stmt))
    return got


def position(stmt: Statement, pos: int) -> tuple[int, int]:
    """File (line, column) of an offset inside a statement's text."""
    before = stmt.text[:pos]
    nl = before.rfind("\n")
    if nl < 0:
        return stmt.line, stmt.column + pos
    return stmt.line + before.count("\n"), pos - nl


def same_name(a: str | None, b: str | None) -> bool:
    """Two relation names that denote the same object when the schema is left out (`users` ~ `public.users`)."""
    if not a or not b:
        return False
    if a == b:
        return True
    return a.rsplit(".", 1)[-1] == b.rsplit(".", 1)[-1] and ("." not in a or "." not in b)


# ------------------------------------------------------------------ dispatch


def _describe(c: Cursor) -> Anatomy:
    head = c.word()
    if head == "CREATE":
        return _create(c)
    if head == "ALTER":
        return _alter(c)
    if head == "DROP":
        return _drop(c)
    if head in _OTHER:
        return _OTHER[head](c)
    if head == "WITH":
        return _with(c)
    return Anatomy(kind=head or "")


# Statements with nothing more to read than their first word: no lock that lint reasons about.
_PLAIN = {
    "SELECT",
    "VALUES",
    "DO",
    "CALL",
    "BEGIN",
    "START",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
    "EXPLAIN",
    "DISCARD",
    "NOTIFY",
    "LISTEN",
    "UNLISTEN",
    "SHOW",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "CHECKPOINT",
    "LOAD",
    "SECURITY",
    "IMPORT",
    "MERGE",
    "COPY",
    "TABLE",
}


def recognized(a: Anatomy) -> bool:
    """Whether sqlmig knows this kind of statement (False: its first word is all that was read)."""
    head = a.kind.split(" ")[0]
    return bool(head) and (head in ("CREATE", "ALTER", "DROP", "WITH") or head in _OTHER or head in _PLAIN)


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
        table = c.name() if obj == "RULE" and c.skip_to("ON") else None
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


def _alter(c: Cursor) -> Anatomy:
    flags: set[str] = set()
    if c.eat("MATERIALIZED", "VIEW"):
        obj = "MATERIALIZED VIEW"
    elif c.eat("EVENT", "TRIGGER"):
        obj = "EVENT TRIGGER"
    elif c.eat("FOREIGN", "TABLE"):
        obj = "FOREIGN TABLE"
    else:
        obj = c.word() or ""
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

_DROP_ON = {"TRIGGER", "POLICY", "RULE"}


def _drop(c: Cursor) -> Anatomy:
    flags: set[str] = set()
    if c.eat("MATERIALIZED", "VIEW"):
        obj = "MATERIALIZED VIEW"
    elif c.eat("EVENT", "TRIGGER"):
        obj = "EVENT TRIGGER"
    elif c.eat("FOREIGN", "TABLE"):
        obj = "FOREIGN TABLE"
    else:
        obj = c.word() or ""
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
        if obj in _DROP_ON and c.eat("ON"):
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


# ------------------------------------------------------------------ data and the rest


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
    if obj in _DROP_ON | {"CONSTRAINT"} and c.eat("ON"):
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


_OTHER = {
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

__all__ = [
    "Action",
    "Anatomy",
    "ColumnDef",
    "Constraint",
    "describe",
    "has_pair",
    "position",
    "same_name",
    "tokens_of",
    "words",
]
