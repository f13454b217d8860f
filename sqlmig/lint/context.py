"""What a rule may know while it looks at one statement: the file, the migration's manifest, the target
PostgreSQL version, the schema before the statement, and what earlier statements of the file did."""

from __future__ import annotations

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


@dataclass(frozen=True)
class MigrationPair:
    """A migration's two SQL files, for the reversibility proof (SM501)."""

    forward: list[Statement]
    rollback: list[Statement] | None  # None: no rollback file
    manifest: Any
    up_path: str
    down_path: str
    model: SchemaModel  # the schema before the forward file


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
    suppressions: list = field(default_factory=list)  # sqlmig.lint.suppress.Suppression, set by the engine
    verbose: bool = False
    enabled: frozenset[str] | None = None  # rule ids that run (set by the engine)
    skipped_tree: list = field(default_factory=list)  # (statement, rule id) skipped for want of a parse tree
    _refused: bool | None = None
    _has_begin: bool | None = None
    _new_bare: dict[str, list[str]] = field(default_factory=dict)  # bare name -> names in `new`
    _effects: dict[int, list] = field(default_factory=dict)

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
    def earlier(self) -> list[Statement]:
        return self.statements[: self.index]

    @property
    def later(self) -> list[Statement]:
        return self.statements[self.index + 1 :]

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
        self.model.apply(a)
        if a.kind in _CREATES and a.object and "OR REPLACE" not in a.flags:
            self.add_new(a.object)
        for act in a.actions:
            if act.verb == "RENAME TO" and self.is_new(a.object) and act.new_name:
                self.add_new(act.new_name)
        boundary = postgres.transaction_boundary(stmt)
        if boundary:
            self.explicit_tx = boundary == "begin"
        if a.kind == "SET" and a.object:
            self.session[a.object] = (a.detail.strip("'\" ") if a.detail else "", stmt.line)
        elif a.kind == "RESET" and a.object:
            self.session.pop(a.object, None)
        elif stmt.keywords[:1] == ("SELECT",) and "SET_CONFIG" in stmt.keywords:
            strings = [t.text for t in stmt.tokens if t.token_type.name == "STRING"]
            if len(strings) >= 2:
                self.session[strings[0].lower()] = (strings[1], stmt.line)


def _nonzero(value: str) -> bool:
    v = value.strip().strip("'\"").lower()
    return v not in ("", "0", "0s", "0ms", "0min", "default")
