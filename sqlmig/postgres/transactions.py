"""Which statements PostgreSQL refuses in a transaction block, and which ones control transactions or the session.

The runner decides from these how to run a migration (one transaction, or statement by
statement in autocommit), `sqlmig check` and lint report them, and the runner resets the
session after a migration that changed it. All of them read the statement's words through
sqlmig.ddl, which also sees the rest of "command" statements (REINDEX, VACUUM, DISCARD…)
that sqlglot's tokenizer hands over as one string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmig import ddl

if TYPE_CHECKING:
    from sqlmig.sql import Statement


# A statement can be refused in a transaction block only if it starts with one of these words or
# contains one of the others; every branch below needs at least one of them.
_REFUSING_HEADS = (["VACUUM"], ["REINDEX"], ["CLUSTER"], ["DISCARD"], ["COMMIT"], ["ROLLBACK"])
_REFUSING_WORDS = frozenset({"CONCURRENTLY", "DATABASE", "TABLESPACE", "SYSTEM", "SUBSCRIPTION", "VALUE"})


def not_in_transaction_reason(stmt: Statement, *, pg_version: int | None = None) -> str | None:
    """Why PostgreSQL refuses this statement inside a transaction block, or None when it allows it.

    `pg_version` matters only for ALTER TYPE … ADD VALUE, refused in a transaction before 12.
    """
    words = ddl.words(stmt)
    if words[:1] not in _REFUSING_HEADS and _REFUSING_WORDS.isdisjoint(words):
        return None  # the common case, decided without the full statement analysis
    a = ddl.describe(stmt)
    kind, flags = a.kind, a.flags
    if kind in ("CREATE INDEX", "DROP INDEX") and "CONCURRENTLY" in flags:
        return f"{kind} CONCURRENTLY cannot run inside a transaction block"
    if kind == "REINDEX":
        if "CONCURRENTLY" in flags:
            return "REINDEX CONCURRENTLY cannot run inside a transaction block"
        for scope in ("SCHEMA", "DATABASE", "SYSTEM"):
            if scope in flags:
                return f"REINDEX {scope} cannot run inside a transaction block"
    if kind == "VACUUM":
        return "VACUUM cannot run inside a transaction block"
    if kind == "CLUSTER" and not a.objects:
        return "CLUSTER without a table cannot run inside a transaction block"
    if kind in ("CREATE DATABASE", "DROP DATABASE", "CREATE TABLESPACE", "DROP TABLESPACE", "ALTER SYSTEM"):
        return f"{kind} cannot run inside a transaction block"
    if kind == "ALTER DATABASE" and ddl.has_pair(words, "SET", "TABLESPACE"):
        return "ALTER DATABASE … SET TABLESPACE cannot run inside a transaction block"
    if any(x.verb == "DETACH PARTITION" and "CONCURRENTLY" in x.flags for x in a.actions):
        return "DETACH PARTITION CONCURRENTLY cannot run inside a transaction block"
    if words[:2] == ["DISCARD", "ALL"]:
        return "DISCARD ALL cannot run inside a transaction block"
    if words[:1] in (["COMMIT"], ["ROLLBACK"]) and "PREPARED" in words:
        return f"{words[0]} PREPARED cannot run inside a transaction block"
    if kind == "CREATE SUBSCRIPTION":
        options = "".join(stmt.text.lower().split())
        if "connect=false" not in options and "create_slot=false" not in options:
            return "CREATE SUBSCRIPTION that creates a replication slot cannot run inside a transaction block"
    if kind == "ALTER TYPE" and pg_version is not None and pg_version < 12 and "ADD VALUE" in a.verbs:
        return "ALTER TYPE … ADD VALUE cannot run inside a transaction block before PostgreSQL 12"
    return None


_TRANSACTION_CONTROL = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"}


def is_transaction_control(stmt: Statement) -> bool:
    """BEGIN/COMMIT/ROLLBACK/SAVEPOINT written in a migration file; sqlmig owns transactions. So is
    PREPARE TRANSACTION: it ends the block, leaving the migration's changes in a prepared
    transaction that holds its locks until someone commits or rolls it back by name.

    COMMIT/ROLLBACK PREPARED are not: they finish a two-phase transaction and refuse a block."""
    words = ddl.words(stmt)
    if words[:2] == ["PREPARE", "TRANSACTION"]:
        return True
    if not words or words[0] not in _TRANSACTION_CONTROL:
        return False
    if words[0] == "START":
        return words[1:2] == ["TRANSACTION"]
    return not (words[0] in ("COMMIT", "ROLLBACK") and "PREPARED" in words)


def transaction_boundary(stmt: Statement) -> str | None:
    """'begin' when the statement opens a transaction block (BEGIN, START TRANSACTION), 'end' when it
    closes one (COMMIT, END, ROLLBACK, ABORT), None otherwise: SAVEPOINT, RELEASE, ROLLBACK TO
    SAVEPOINT, and COMMIT/ROLLBACK AND CHAIN, which start the next transaction at once."""
    if not is_transaction_control(stmt):
        return None
    words = ddl.words(stmt)
    if words[0] in ("BEGIN", "START"):
        return "begin"
    if words[0] in ("SAVEPOINT", "RELEASE") or "TO" in words or ddl.has_pair(words, "AND", "CHAIN"):
        return None
    return "end"


def changes_session(stmt: Statement) -> bool:
    """SET (not SET LOCAL, SET CONSTRAINTS or SET TRANSACTION), RESET, SET ROLE / SESSION AUTHORIZATION,
    and set_config() (pg_dump's `SELECT pg_catalog.set_config('search_path', '', false)`): state that
    may outlive the transaction. A set_config that is local only costs a needless reset."""
    words = ddl.words(stmt)
    if words[:1] == ["RESET"] or "set_config" in stmt.text.lower():
        return True
    if words[:3] in (["SET", "LOCAL", "ROLE"], ["SET", "LOCAL", "SESSION"]):
        return True  # ends with the transaction, but sqlmig's own history row is written inside it
    return words[:1] == ["SET"] and words[1:2] not in (["LOCAL"], ["CONSTRAINTS"], ["TRANSACTION"])


def drops_prepared_statements(stmt: Statement) -> bool:
    """DEALLOCATE and DISCARD: they drop prepared statements, which the client library keeps track of."""
    return ddl.words(stmt)[:1] in (["DEALLOCATE"], ["DISCARD"])


_ON = {"on", "true", "yes", "1"}


def changes_string_syntax(stmt: Statement) -> bool:
    """SET standard_conforming_strings to anything but on (off, DEFAULT, a database default of off), RESET it
    (or RESET ALL), or set_config() it.

    `SET standard_conforming_strings = on` (pg_dump and Rails' structure.sql start with it;
    also `TO on`, `'on'`, `true`) is what sqlmig sets itself, so it changes nothing.
    """
    words = stmt.keywords
    if words[:2] == ("RESET", "ALL"):
        return True  # resets it to the database's default, which may be off
    if "set_config" in stmt.text.lower() and "standard_conforming_strings" in stmt.text.lower():
        return True  # SELECT set_config('standard_conforming_strings', …): sqlmig cannot tell the value
    if "STANDARD_CONFORMING_STRINGS" not in words[:4] or words[:1] not in (("SET",), ("RESET",)):
        return False
    if words[0] == "RESET":
        return True
    texts = [t.text for t in stmt.tokens]
    at = next(i for i, t in enumerate(texts) if t.lower() == "standard_conforming_strings")
    value = texts[at + 1 :]
    if value[:1] and value[0].upper() in ("=", "TO"):
        value = value[1:]
    return len(value) != 1 or value[0].lower() not in _ON
