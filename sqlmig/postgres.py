"""What PostgreSQL does with each kind of statement: the one place for that knowledge.

Lock levels, rewrites, and which statements refuse to run inside a transaction block
live here, and everything else (runner, check, lint, plan) asks this module. The facts
come from ../shared/lint-rules.md §2-§3 (measured on PostgreSQL 15.18 and 18.6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlmig.sql import Statement

# Two-word kinds, checked before one-word kinds.
_TWO_WORD = {"CREATE", "ALTER", "DROP", "COMMENT", "REFRESH"}
_SKIP = {"OR", "REPLACE", "UNIQUE", "TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL", "MATERIALIZED",
         "CONSTRAINT", "TRUSTED", "PROCEDURAL", "RECURSIVE", "DEFAULT"}  # fmt: skip


def statement_kind(stmt: Statement) -> str:
    """'CREATE INDEX', 'ALTER TABLE', 'UPDATE', 'WITH' … from the leading keywords."""
    words = list(stmt.keywords)
    if not words:
        return ""
    head = words[0]
    if head in _TWO_WORD and len(words) > 1:
        rest = [w for w in words[1:] if w not in _SKIP]
        if "MATERIALIZED" in words[1:3] and rest[:1] == ["VIEW"]:
            return f"{head} MATERIALIZED VIEW"
        return f"{head} {rest[0]}" if rest else head
    return head


def _has(stmt: Statement, *words: str) -> bool:
    upper = {t.text.upper() for t in stmt.tokens if t.token_type.name not in ("STRING", "IDENTIFIER")}
    return all(w in upper for w in words)


def not_in_transaction_reason(stmt: Statement) -> str | None:
    """Why PostgreSQL refuses this statement inside a transaction block, or None when it allows it."""
    words = stmt.keywords
    kind = statement_kind(stmt)
    if kind in ("CREATE INDEX", "DROP INDEX") and "CONCURRENTLY" in words:
        return f"{kind} CONCURRENTLY cannot run inside a transaction block"
    if words[:1] == ("REINDEX",):
        if "CONCURRENTLY" in words:
            return "REINDEX CONCURRENTLY cannot run inside a transaction block"
        if len(words) > 1 and words[1] in ("SCHEMA", "DATABASE", "SYSTEM"):
            return f"REINDEX {words[1]} cannot run inside a transaction block"
    if words[:1] == ("VACUUM",):
        return "VACUUM cannot run inside a transaction block"
    if words[:1] == ("CLUSTER",) and len(words) == 1:
        return "CLUSTER without a table cannot run inside a transaction block"
    if kind in ("CREATE DATABASE", "DROP DATABASE", "CREATE TABLESPACE", "DROP TABLESPACE"):
        return f"{kind} cannot run inside a transaction block"
    if words[:2] == ("ALTER", "SYSTEM"):
        return "ALTER SYSTEM cannot run inside a transaction block"
    if kind == "ALTER DATABASE" and _has(stmt, "SET", "TABLESPACE"):
        return "ALTER DATABASE … SET TABLESPACE cannot run inside a transaction block"
    if kind == "ALTER TABLE" and _has(stmt, "DETACH", "PARTITION", "CONCURRENTLY"):
        return "DETACH PARTITION CONCURRENTLY cannot run inside a transaction block"
    if words[:2] == ("DISCARD", "ALL"):
        return "DISCARD ALL cannot run inside a transaction block"
    if words[:1] in (("COMMIT",), ("ROLLBACK",)) and "PREPARED" in words:
        return f"{words[0]} PREPARED cannot run inside a transaction block"
    return None


_TRANSACTION_CONTROL = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"}


def is_transaction_control(stmt: Statement) -> bool:
    """BEGIN/COMMIT/ROLLBACK/SAVEPOINT written in a migration file; sqlmig owns transactions."""
    words = stmt.keywords
    if not words or words[0] not in _TRANSACTION_CONTROL:
        return False
    if words[0] == "START":
        return words[1:2] == ("TRANSACTION",)
    if words[0] in ("COMMIT", "ROLLBACK") and "PREPARED" in words:
        return False
    return True
