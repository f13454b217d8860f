"""What a statement says, read from its sqlglot tokens: the objects it names and, for ALTER TABLE, each action.

Token-level on purpose: sqlglot's parser gives up (an opaque Command) on many of the
statements that matter most for locks (VALIDATE CONSTRAINT, ATTACH PARTITION, ADD … USING
INDEX, ALTER TYPE … ADD VALUE, policies, REINDEX, VACUUM, LOCK). A linter must not go
blind exactly there, so this reader follows PostgreSQL's grammar just far enough to name
things. What PostgreSQL *does* with a statement is sqlmig.postgres's business, not this one's.

Names are normalised like PostgreSQL does: unquoted identifiers (non-ASCII letters allowed) have their
ASCII letters lower-cased, quoted ones are kept as written; a qualified name is joined with dots
(`public.users`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmig.ddl.cursor import Cursor, expand, fold, has_pair, words_of

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
        from sqlmig.ddl.statements import _describe

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
        known = stmt.words  # a statement from sqlmig.statement_cache brings them, saving its tokenization
        got = _WORDS[stmt.text] = list(known) if known is not None else words_of(tokens_of(stmt))
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


# Statements read past their first word by sqlmig.ddl.other (kept here so recognized() needs no import)
_READERS = {"UPDATE", "DELETE", "INSERT", "TRUNCATE", "LOCK", "SET", "RESET", "COMMENT", "GRANT", "REVOKE",
            "REFRESH", "REINDEX", "VACUUM", "ANALYZE", "ANALYSE", "CLUSTER"}  # fmt: skip

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
    return bool(head) and (head in ("CREATE", "ALTER", "DROP", "WITH") or head in _READERS or head in _PLAIN)


__all__ = [
    "Action",
    "Anatomy",
    "ColumnDef",
    "Constraint",
    "describe",
    "fold",
    "has_pair",
    "position",
    "recognized",
    "same_name",
    "tokens_of",
    "words",
]
