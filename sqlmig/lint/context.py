"""What a rule may know while it looks at one statement: the file, the migration's manifest, the target
PostgreSQL version, the schema before the statement, and what earlier statements of the file did.

Everything a rule asks about other statements of the file is indexed once per file (`occurrences`,
built on first use) or kept up to date as the engine walks the statements (`observe`: objects
created, session settings, enum values added and strong locks taken in the current transaction),
so a rule never loops over the file for each statement and linting stays linear in its length.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlmig import ddl, postgres
from sqlmig.lint.schema import SchemaModel
from sqlmig.sql import Statement

_CREATES = {
    "CREATE TABLE",
    "CREATE VIEW",
    "CREATE MATERIALIZED VIEW",
    "CREATE TYPE",
    "CREATE SEQUENCE",
    "CREATE INDEX",
    "CREATE DOMAIN",
    "CREATE FUNCTION",
    "CREATE PROCEDURE",
    "CREATE SCHEMA",
}


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _occurrence_keys(a: ddl.Anatomy) -> Iterator[tuple[tuple, str | None]]:
    """(key, name) pairs under which a statement is found by the rules that look past it (see Occurrences)."""
    if a.kind.startswith("CREATE ") and "OR REPLACE" not in a.flags:
        yield (a.kind,), a.object
    if a.kind == "DROP INDEX":
        for name in a.objects:
            yield ("DROP INDEX",), name
    if a.kind == "CREATE INDEX":
        for k in range(1, len(a.targets) + 1):
            yield ("INDEX LEADS", frozenset(a.targets[:k])), a.table
    if a.kind == "UPDATE":
        for column in a.targets:
            yield ("UPDATE", column), a.table
    if a.kind == "ALTER TABLE":
        for act in a.actions:
            if act.verb == "ADD CONSTRAINT" and act.name:
                yield ("ADD CONSTRAINT",), act.name
        if not set(a.verbs) & SINGLE_ALTER_VERBS:
            yield ("ALTER TABLE combinable",), a.table


SINGLE_ALTER_VERBS = frozenset(
    {"RENAME COLUMN", "RENAME TO", "RENAME CONSTRAINT", "SET SCHEMA", "ATTACH PARTITION", "DETACH PARTITION"}
)  # ALTER TABLE actions that cannot share a statement with others


class Occurrences:
    """Where statements of a file occur under a key and a name, built once: `first(key, name, before=i)`
    answers "is there an earlier statement that …" in O(log n). Names match like ddl.same_name."""

    def __init__(self, statements: list[Statement]) -> None:
        self._at: dict[tuple, dict[str, list[int]]] = {}
        for i, stmt in enumerate(statements):
            for key, name in _occurrence_keys(ddl.describe(stmt)):
                if name:
                    self._at.setdefault((*key, _bare(name)), {}).setdefault(name, []).append(i)

    def first(self, key: tuple, name: str | None, *, before: int | None = None, after: int = -1) -> int | None:
        """Index of the first statement after `after` (and before `before`) found under `key` for `name`."""
        if not name:
            return None
        best = None
        for full, positions in self._at.get((*key, _bare(name)), {}).items():
            if not ddl.same_name(full, name):
                continue
            j = bisect_right(positions, after)
            if j < len(positions) and (before is None or positions[j] < before):
                best = positions[j] if best is None else min(best, positions[j])
        return best


@dataclass(frozen=True)
class HeldLock:
    """A strong lock taken by an earlier statement of the current transaction (held until it ends)."""

    order: tuple[int, int]  # (statement index, effect index): earlier first
    stmt: Statement
    effect: postgres.LockEffect


@dataclass(frozen=True)
class MigrationPair:
    """A migration's two SQL files, for the reversibility proof (SM501)."""

    forward: list[Statement]
    rollback: list[Statement] | None  # None: no rollback file
    manifest: Any
    up_path: str
    down_path: str
    model: SchemaModel  # the schema before the forward file
    rollback_text: str | None = None  # for `-- sqlmig:restore-captured`, a comment the statements leave out


@dataclass
class FileContext:
    path: str  # as shown in findings
    statements: list[Statement]
    settings: Any  # sqlmig.config.Settings
    direction: str = "file"  # "up" (a migration), "rollback", or "file" (SQL outside a project)
    manifest: Any = None  # sqlmig.manifest.Manifest of the same stem, when one could be read
    model: SchemaModel = field(default_factory=SchemaModel)
    forward: list[Statement] | None = None  # the forward file's statements, when linting a rollback
    index: int = 0  # the statement being linted
    new: set[str] = field(default_factory=set)  # objects created earlier in this file (new and empty)
    session: dict[str, tuple[str, int]] = field(default_factory=dict)  # SET parameter -> (value, line)
    explicit_tx: bool = False  # between BEGIN and COMMIT written in the file
    pair: MigrationPair | None = None  # set on the one file of a migration whose SM501 proves reversibility
    text: str = ""  # the file's text, comments included (set by the engine)
    suppressions: list = field(default_factory=list)  # sqlmig.lint.suppress.Suppression, set by the engine
    suppression_index: dict = field(default_factory=dict)  # sqlmig.lint.suppress.index(suppressions)
    verbose: bool = False
    enabled: frozenset[str] | None = None  # rule ids that run (set by the engine)
    skipped_tree: list = field(default_factory=list)  # (statement, rule id) skipped for want of a parse tree
    _refused: bool | None = None
    _has_begin: bool | None = None
    _new_bare: dict[str, list[str]] = field(default_factory=dict)  # bare name -> names in `new`
    _effects: dict[int, list] = field(default_factory=dict)
    _occurrences: Occurrences | None = None
    _positions: dict[int, int] | None = None
    # the current transaction, kept by observe(): enum label -> [(type, line)] added, and the first strong
    # lock of each mode per table (bare name, in the order the tables were first locked)
    tx_labels: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    tx_locks: dict[str, dict[str, HeldLock]] = field(default_factory=dict)

    # ---------------------------------------------------------------- facts
    @property
    def pg(self) -> int:
        return int(self.settings.target_pg_version)

    @property
    def in_project(self) -> bool:
        return self.direction != "file"

    @property
    def anatomy(self) -> ddl.Anatomy:
        return ddl.describe(self.statements[self.index])

    @property
    def occurrences(self) -> Occurrences:
        if self._occurrences is None:
            self._occurrences = Occurrences(self.statements)
        return self._occurrences

    def earlier(self, key: tuple, name: str | None) -> Statement | None:
        """The first statement before the one being linted found under `key` for `name` (see Occurrences)."""
        i = self.occurrences.first(key, name, before=self.index)
        return None if i is None else self.statements[i]

    def later(self, key: tuple, name: str | None) -> Statement | None:
        """The first statement after the one being linted found under `key` for `name`."""
        i = self.occurrences.first(key, name, after=self.index)
        return None if i is None else self.statements[i]

    def position(self, stmt: Statement) -> int | None:
        """The index of a statement of this file (None for a statement of another file)."""
        if self._positions is None:
            self._positions = {id(s): i for i, s in enumerate(self.statements)}
        return self._positions.get(id(stmt))

    def held_locks(self, table: str | None) -> list[HeldLock]:
        """Strong locks on `table` held from earlier statements of the current transaction, earliest first."""
        if not table:
            return []
        found = [h for h in self.tx_locks.get(_bare(table), {}).values() if ddl.same_name(h.effect.table, table)]
        return sorted(found, key=lambda h: h.order)

    @property
    def runner_wraps(self) -> bool:
        """sqlmig itself runs this file in one transaction (a project migration with transaction: per-migration)."""
        return self.manifest is not None and self.manifest.transactional

    @property
    def transactional(self) -> bool:
        """Whether the statement being linted runs in the same transaction as the statements before it.

        From the manifest when there is one; else BEGIN … COMMIT in the file; else a file without
        statements PostgreSQL refuses in a transaction is assumed to run as one (most runners, and any
        driver that sends the whole file at once, do).
        """
        if self.manifest is not None:
            return self.manifest.transactional
        if self._has_begin is None:
            self._has_begin = any(postgres.transaction_boundary(s) == "begin" for s in self.statements)
        if self.explicit_tx or self._has_begin:
            return self.explicit_tx
        if self._refused is None:
            self._refused = any(postgres.not_in_transaction_reason(s) for s in self.statements)
        return not self._refused

    def is_new(self, name: str | None) -> bool:
        """Created earlier in this file (so new and empty, and invisible to other sessions until commit)."""
        if not name:
            return False
        return any(ddl.same_name(name, n) for n in self._new_bare.get(name.rsplit(".", 1)[-1], ()))

    def add_new(self, name: str) -> None:
        self.new.add(name)
        self._new_bare.setdefault(name.rsplit(".", 1)[-1], []).append(name)

    def effects(self, stmt: Statement) -> list[postgres.LockEffect]:
        """Lock effects on relations that existed before this file (new ones are empty and private).

        Computed once per statement: later rules ask about earlier statements again and again."""
        key = id(stmt)
        if key not in self._effects:
            found = postgres.lock_effects(stmt, pg_version=self.pg, facts=self.model)
            self._effects[key] = [e for e in found if not self.is_new(e.table)]
        return self._effects[key]

    def timeout(self, name: str) -> tuple[str, str] | None:
        """(value, where it was set) for lock_timeout / statement_timeout in effect, or None when unset or 0."""
        if name in self.session:
            value, line = self.session[name]
            return (value, f"SET at line {line}") if _nonzero(value) else None
        from_manifest = getattr(self.manifest, name, None) if self.manifest is not None else None
        if from_manifest and _nonzero(str(from_manifest)):
            return str(from_manifest), f"{name} in the manifest"
        configured = getattr(self.settings, name, None)
        if self.in_project and configured and _nonzero(str(configured)):
            return str(configured), f"{name} in the configuration"
        return None

    # ---------------------------------------------------------------- after each statement
    def observe(self, stmt: Statement, a: ddl.Anatomy) -> None:
        if self.transactional:
            self._remember_in_transaction(stmt, a)
        self.model.apply(a)
        if a.kind in _CREATES and a.object and "OR REPLACE" not in a.flags:
            self.add_new(a.object)
        for act in a.actions:
            if act.verb == "RENAME TO" and self.is_new(a.object) and act.new_name:
                self.add_new(act.new_name)
        boundary = postgres.transaction_boundary(stmt)
        if boundary:
            self.explicit_tx = boundary == "begin"
        if boundary or (postgres.is_transaction_control(stmt) and ddl.has_pair(ddl.words(stmt), "AND", "CHAIN")):
            self.tx_labels, self.tx_locks = {}, {}  # a new transaction: earlier locks released, values committed
        if a.kind == "SET" and a.object:
            self.session[a.object] = (a.detail.strip("'\" ") if a.detail else "", stmt.line)
        elif a.kind == "RESET" and a.object:
            self.session.pop(a.object, None)
        elif stmt.keywords[:1] == ("SELECT",) and "SET_CONFIG" in stmt.keywords:
            strings = [t.text for t in stmt.tokens if t.token_type.name == "STRING"]
            if len(strings) >= 2:
                self.session[strings[0].lower()] = (strings[1], stmt.line)

    def _remember_in_transaction(self, stmt: Statement, a: ddl.Anatomy) -> None:
        if a.kind == "ALTER TYPE" and "ADD VALUE" in a.verbs and a.object:
            for label in a.targets:
                self.tx_labels.setdefault(label, []).append((a.object, stmt.line))
        gone = a.objects if a.kind.startswith("DROP") else ()
        for j, e in enumerate(self.effects(stmt)):
            if e.mode not in postgres.STRONG_LOCKS or any(ddl.same_name(e.table, g) for g in gone):
                continue  # a dropped relation is nobody's to wait for
            modes = self.tx_locks.setdefault(_bare(e.table), {})
            key = f"{e.table}|{e.mode}"
            if key not in modes:
                modes[key] = HeldLock((self.index, j), stmt, e)


def _nonzero(value: str) -> bool:
    v = value.strip().strip("'\"").lower()
    return v not in ("", "0", "0s", "0ms", "0min", "default")
