"""CREATE TABLE and ALTER TABLE: column definitions, table constraints and each ALTER TABLE action."""

from __future__ import annotations

from typing import Any

from sqlmig.ddl import Action, Anatomy, ColumnDef, Constraint
from sqlmig.ddl.cursor import Cursor, fold, has_pair, render, split_depth0, word_of

_CONSTRAINT_START = {"CONSTRAINT", "CHECK", "UNIQUE", "PRIMARY", "FOREIGN", "EXCLUDE"}
_COLUMN_STOP = {
    "CONSTRAINT",
    "NOT",
    "NULL",
    "DEFAULT",
    "CHECK",
    "REFERENCES",
    "PRIMARY",
    "UNIQUE",
    "GENERATED",
    "COLLATE",
    "DEFERRABLE",
    "INITIALLY",
    "COMPRESSION",
    "STORAGE",
}
_DEFAULT_STOP = _COLUMN_STOP - {"NOT", "NULL", "DEFAULT"}


def create_table(c: Cursor, flags: set[str]) -> Anatomy:
    pos = c.pos()
    if c.eat("IF", "NOT", "EXISTS"):
        flags.add("IF NOT EXISTS")
    name = c.name()
    parent = None
    if c.eat("PARTITION", "OF"):
        parent = c.name()
        flags.add("PARTITION OF")
    elif c.eat("OF"):
        c.name()
    columns: list[ColumnDef] = []
    constraints: list[Constraint] = []
    reads: list[str] = []
    if c.at_punct("L_PAREN"):
        for part in split_depth0(c.paren_tokens()):
            sub = Cursor(part, c.base)
            if sub.at_any(*_CONSTRAINT_START) or sub.at("NOT", "NULL"):
                constraints.append(constraint(sub))
            elif sub.eat("LIKE"):
                like = sub.name()
                if like:
                    reads.append(like)
            else:
                col = column_def(sub)
                if col:
                    columns.append(col)
    if c.find_depth0({"PARTITION"}, c.i) is not None and "BY" in c.rest_words():
        flags.add("PARTITIONED")
    if c.eat("INHERITS"):
        reads.extend(n for n in c.paren_items())
    if c.at("AS") or c.rest_has("SELECT"):
        flags.add("AS")
        reads.extend(c.relations_read())
    refs = [col.references for col in columns if col.references]
    refs += [k.references for k in constraints if k.references]
    return Anatomy(
        kind="CREATE TABLE",
        object=name,
        objects=(name,) if name else (),
        table=name,
        flags=frozenset(flags),
        columns=tuple(columns),
        constraints=tuple(constraints),
        parent=parent,
        reads=tuple(dict.fromkeys(reads + refs)),
        pos=pos,
    )


def expression_functions(tokens: list[Any]) -> tuple[str, ...]:
    """Lower-case names of the functions an expression calls (`nextval`, `gen_random_uuid`), casts excluded."""
    out = []
    for j, tok in enumerate(tokens[:-1]):
        if tokens[j + 1].token_type.name != "L_PAREN" or not word_of(tok):
            continue
        prev = tokens[j - 1] if j else None
        if prev is not None and (prev.token_type.name == "DCOLON" or word_of(prev) == "AS"):
            continue  # a type with modifiers: ::numeric(10,2), CAST(x AS varchar(5))
        out.append(fold(tok.text))
    return tuple(out)


def _until(c: Cursor, stop: set[str], *, first: bool = True) -> list[Any]:
    """Consume tokens up to a depth-0 stop word; NOT NULL / NULL end an expression only after its first token."""
    start = c.i
    while not c.done():
        w = c.peek()
        taken = c.i > start or not first
        if w in stop and (taken or w not in ("NOT", "NULL")):
            part_of_expr = (w == "NOT" and c.peek(1) != "NULL") or (
                w == "NULL" and word_of(c.tokens[c.i - 1]) in ("IS", "NOT")
            )
            if not part_of_expr:
                break
        c.skip()
    return c.tokens[start : c.i]


def column_def(c: Cursor) -> ColumnDef | None:
    pos = c.pos()
    name = c.name()
    if not name:
        return None
    type_tokens = _until(c, _COLUMN_STOP, first=False)
    col: dict[str, Any] = {"name": name, "type": render(type_tokens).lower(), "pos": pos}
    while not c.done():
        if c.eat("CONSTRAINT"):
            c.name()
        elif c.eat("NOT", "NULL"):
            col["not_null"] = True
        elif c.eat("DEFAULT"):
            expr = _until(c, _DEFAULT_STOP | {"NOT", "NULL"})
            col["default"] = render(expr)
            col["default_functions"] = expression_functions(expr)
        elif c.eat("CHECK"):
            col["check"] = c.paren_text()
        elif c.eat("REFERENCES"):
            col["references"] = c.name()
            c.paren_tokens()
            _referential_actions(c)
        elif c.eat("PRIMARY", "KEY"):
            col["primary_key"] = col["not_null"] = True
        elif c.eat("UNIQUE"):
            col["unique"] = True
        elif c.eat("GENERATED"):
            ahead = c.rest_words()[:6]
            if "IDENTITY" in ahead:
                col["generated"] = "identity"
                c.skip_to("IDENTITY")
                c.paren_tokens()
            else:
                c.skip_to("AS")
                c.paren_tokens()
                col["generated"] = "stored" if c.eat("STORED") else "virtual"
        else:
            c.skip()
    return ColumnDef(**col)


def _referential_actions(c: Cursor) -> None:
    """Step over MATCH … / ON DELETE … / ON UPDATE … so SET DEFAULT there is not read as a column default."""
    while True:
        if c.eat("MATCH"):
            c.word()
        elif c.eat("ON"):
            c.word()
            if not (c.eat("NO", "ACTION") or c.eat("SET", "NULL") or c.eat("SET", "DEFAULT")):
                c.word()
            c.paren_tokens()
        else:
            return


def constraint(c: Cursor) -> Constraint:
    name = c.name() if c.eat("CONSTRAINT") else None
    kind, cols, refs, expr, using = "OTHER", (), None, None, None
    if c.eat("CHECK"):
        kind, expr = "CHECK", c.paren_text()
    elif c.at_any("UNIQUE") or c.at("PRIMARY", "KEY"):
        kind = "UNIQUE" if c.eat("UNIQUE") else "PRIMARY KEY"
        c.eat("PRIMARY", "KEY")
        if not c.eat("NULLS", "NOT", "DISTINCT"):
            c.eat("NULLS", "DISTINCT")
        if c.eat("USING", "INDEX"):
            using = c.name()
        else:
            cols = c.paren_items()
    elif c.eat("FOREIGN", "KEY"):
        kind, cols = "FOREIGN KEY", c.paren_items()
        c.eat("REFERENCES")
        refs = c.name()
    elif c.eat("EXCLUDE"):
        kind = "EXCLUDE"
    elif c.eat("NOT", "NULL"):
        kind = "NOT NULL"
        col = c.name()
        cols = (col,) if col else ()
    rest = c.rest_words()
    return Constraint(
        kind=kind,
        name=name,
        columns=tuple(cols),
        references=refs,
        expression=expr,
        not_valid=has_pair(rest, "NOT", "VALID"),
        not_enforced=has_pair(rest, "NOT", "ENFORCED"),
        using_index=using,
    )


# ------------------------------------------------------------------ ALTER TABLE


def alter_table(c: Cursor, flags: set[str]) -> Anatomy:
    if c.eat("ONLY"):
        flags.add("ONLY")
    name = c.name()
    c.eat_punct("STAR")
    pos = c.pos()
    actions: list[Action] = []
    if c.eat("RENAME"):
        if c.eat("TO"):
            actions.append(Action("RENAME TO", pos, new_name=c.name()))
        elif c.eat("CONSTRAINT"):
            old = c.name()
            c.eat("TO")
            actions.append(Action("RENAME CONSTRAINT", pos, name=old, new_name=c.name()))
        else:
            c.eat("COLUMN")
            old = c.name()
            c.eat("TO")
            actions.append(Action("RENAME COLUMN", pos, column=old, new_name=c.name()))
    elif c.eat("SET", "SCHEMA"):
        actions.append(Action("SET SCHEMA", pos, new_name=c.name()))
    elif c.eat("ATTACH", "PARTITION"):
        part = c.name()
        actions.append(Action("ATTACH PARTITION", pos, name=part, flags=frozenset(set(c.rest_words()) & {"DEFAULT"})))
    elif c.eat("DETACH", "PARTITION"):
        part = c.name()
        actions.append(
            Action(
                "DETACH PARTITION", pos, name=part, flags=frozenset(set(c.rest_words()) & {"CONCURRENTLY", "FINALIZE"})
            )
        )
    else:
        for part in c.split_depth0_until(set()):
            actions.append(_action(Cursor(part, c.base)))
    return Anatomy(
        kind="ALTER TABLE",
        object=name,
        objects=(name,) if name else (),
        table=name,
        flags=frozenset(flags),
        actions=tuple(actions),
        pos=pos,
    )


def _action(c: Cursor) -> Action:
    pos = c.pos()
    if c.eat("ADD"):
        if not c.at("COLUMN") and (c.at_any(*_CONSTRAINT_START) or c.at("NOT", "NULL")):
            k = constraint(c)
            return Action("ADD CONSTRAINT", pos, name=k.name, constraint=k)
        c.eat("COLUMN")
        flags = frozenset({"IF NOT EXISTS"}) if c.eat("IF", "NOT", "EXISTS") else frozenset()
        col = column_def(c)
        return Action("ADD COLUMN", pos, column=col.name if col else None, coldef=col, flags=flags)
    if c.eat("DROP"):
        if c.eat("CONSTRAINT"):
            flags = {"IF EXISTS"} if c.eat("IF", "EXISTS") else set()
            name = c.name()
            return Action("DROP CONSTRAINT", pos, name=name, flags=frozenset(flags | _tail(c)))
        c.eat("COLUMN")
        flags = {"IF EXISTS"} if c.eat("IF", "EXISTS") else set()
        col = c.name()
        return Action("DROP COLUMN", pos, column=col, flags=frozenset(flags | _tail(c)))
    if c.eat("ALTER", "CONSTRAINT"):
        name = c.name()
        return Action("ALTER CONSTRAINT", pos, name=name, flags=frozenset(c.rest_words()))
    if c.eat("ALTER"):
        c.eat("COLUMN")
        return _alter_column(c, pos, c.name())
    if c.eat("VALIDATE", "CONSTRAINT"):
        return Action("VALIDATE CONSTRAINT", pos, name=c.name())
    for verb in ("ENABLE", "DISABLE", "FORCE", "NO"):
        if c.eat(verb):
            c.eat_any("REPLICA", "ALWAYS")
            what = " ".join(c.rest_words()[:4])
            if what.startswith(("ROW LEVEL SECURITY", "FORCE ROW LEVEL SECURITY")):
                return Action(f"{verb} {what}", pos)
            if c.eat("TRIGGER") or c.eat("RULE"):
                kind = "TRIGGER" if word_of(c.tokens[c.i - 1]) == "TRIGGER" else "RULE"
                return Action(f"{verb} {kind}", pos, name=c.name())
            if verb == "NO" and c.eat("INHERIT"):
                return Action("NO INHERIT", pos, name=c.name())
    if c.eat("SET"):
        if c.at_punct("L_PAREN"):
            opts = tuple(x.split("=")[0].strip().lower() for x in c.paren_items())
            return Action("SET OPTIONS", pos, flags=frozenset(opts))
        words = c.rest_words()
        verb = "SET " + " ".join(words[:2] if words[:1] in (["ACCESS"], ["WITHOUT"]) else words[:1])
        return Action(verb, pos, name=(words[2] if words[:1] == ["ACCESS"] and len(words) > 2 else None))
    if c.eat("RESET"):
        return Action("RESET OPTIONS", pos)
    words = c.rest_words()
    if words[:2] == ["CLUSTER", "ON"]:
        return Action("CLUSTER ON", pos)
    if words[:2] == ["REPLICA", "IDENTITY"]:
        return Action("REPLICA IDENTITY", pos)
    if words[:2] == ["OWNER", "TO"]:
        return Action("OWNER TO", pos)
    if words[:1] == ["INHERIT"]:
        return Action("INHERIT", pos)
    return Action(" ".join(words[:2]) or "OTHER", pos)


def _tail(c: Cursor) -> set[str]:
    return set(c.rest_words()) & {"CASCADE", "RESTRICT"}


def _alter_column(c: Cursor, pos: int, col: str | None) -> Action:
    if c.eat("TYPE") or c.eat("SET", "DATA", "TYPE"):
        type_tokens = []
        while not c.done() and not c.at_any("COLLATE", "USING"):
            type_tokens.append(c.tokens[c.i])
            c.i += 1
        using = c.text_after_depth0("USING")
        return Action(
            "ALTER COLUMN TYPE",
            pos,
            column=col,
            type=render(type_tokens).lower(),
            expression=using,
            flags=frozenset({"USING"} if using is not None else set()),
        )
    if c.eat("SET", "DEFAULT"):
        expr = c.tokens[c.i :]
        return Action("SET DEFAULT", pos, column=col, expression=render(expr), functions=expression_functions(expr))
    if c.eat("SET", "EXPRESSION"):
        c.eat("AS")
        return Action("SET EXPRESSION", pos, column=col, expression=c.paren_text())
    if c.eat("ADD", "GENERATED"):
        return Action("ADD IDENTITY", pos, column=col)
    if c.at("SET", "NOT", "NULL") or c.at("DROP", "NOT", "NULL"):
        verb = "SET NOT NULL" if c.word() == "SET" else "DROP NOT NULL"
        return Action(verb, pos, column=col)
    words = c.rest_words()
    if words[:1] == ["SET"] and c.tokens[c.i + 1].token_type.name == "L_PAREN":
        return Action("SET ATTRIBUTE OPTIONS", pos, column=col)
    if words[:2] in (["SET", "GENERATED"], ["RESTART"], ["SET", "INCREMENT"], ["SET", "START"]) or words[:1] == [
        "RESTART"
    ]:
        return Action("SET IDENTITY", pos, column=col)
    verb = " ".join(words[:2]) if words[:1] in (["SET"], ["DROP"], ["RESET"]) else " ".join(words[:1])
    return Action(verb or "OTHER", pos, column=col)
