"""Typed progress events. The runner emits them; the CLI renders them (text on a terminal, JSON lines).

Each event is a frozen dataclass with a stable `kind`; `to_dict()` is the JSON-lines
shape that log shippers rely on, so fields are only ever added, never renamed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"
    at: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict:
        return {"event": self.kind, **asdict(self)}


Sink = Callable[[Event], None]


def discard(_: Event) -> None:
    """A sink that ignores events (the library default)."""


@dataclass(frozen=True)
class LockWaiting(Event):
    kind: ClassVar[str] = "lock_waiting"
    holder: str | None


@dataclass(frozen=True)
class LockAcquired(Event):
    kind: ClassVar[str] = "lock_acquired"
    waited_ms: int


@dataclass(frozen=True)
class MigrationStarted(Event):
    kind: ClassVar[str] = "migration_started"
    version: str
    name: str
    direction: str
    statements: int
    transactional: bool
    resume_from: int = 0


@dataclass(frozen=True)
class StatementStarted(Event):
    kind: ClassVar[str] = "statement_started"
    version: str
    index: int
    path: str
    line: int
    first_line: str


@dataclass(frozen=True)
class StatementDone(Event):
    kind: ClassVar[str] = "statement_done"
    version: str
    index: int
    duration_ms: int


@dataclass(frozen=True)
class Retrying(Event):
    kind: ClassVar[str] = "retrying"
    version: str
    attempt: int
    of: int
    delay_s: float
    reason: str


@dataclass(frozen=True)
class MigrationDone(Event):
    kind: ClassVar[str] = "migration_done"
    version: str
    name: str
    direction: str
    duration_ms: int


@dataclass(frozen=True)
class MigrationFailedEvent(Event):
    kind: ClassVar[str] = "migration_failed"
    version: str
    name: str
    direction: str
    error: str
    rolled_back: bool


@dataclass(frozen=True)
class Note(Event):
    kind: ClassVar[str] = "note"
    level: str  # info | warning
    message: str
