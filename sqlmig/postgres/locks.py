"""PostgreSQL's lock levels: which relations a statement locks, in which mode, and whether it rewrites or scans.

One entry per operation, measured on PostgreSQL 15.18 and 18.6 unless marked (docs)
(../shared/lint-rules.md §2). `lock_effects` reads a statement's anatomy (sqlmig.ddl) and
returns what the server will lock; lint, plan, liveplan, backup and verify all ask it, and
`conflicts` is PostgreSQL's conflict table, so no other module needs to know a lock mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmig.ddl import describe, same_name
from sqlmig.postgres.rewrites import NO_FACTS, Facts, add_column_rewrite, set_not_null_scans, type_change_rewrites

if TYPE_CHECKING:
    from sqlmig.sql import Statement

LOCK_MODES = ("ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE",
              "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE")  # fmt: skip
_AS, _RS, _RE, _SUE, _S, _SRE, _E, _AE = LOCK_MODES
_CONFLICTS = {
    _AS: {_AE},
    _RS: {_E, _AE},
    _RE: {_S, _SRE, _E, _AE},
    _SUE: {_SUE, _S, _SRE, _E, _AE},
    _S: {_RE, _SUE, _SRE, _E, _AE},
    _SRE: {_RE, _SUE, _S, _SRE, _E, _AE},
    _E: {_RS, _RE, _SUE, _S, _SRE, _E, _AE},
    _AE: set(LOCK_MODES),
}
STRONG_LOCKS = frozenset({_S, _SRE, _E, _AE})  # block writes (and reads, for ACCESS EXCLUSIVE)


def lock_rank(mode: str) -> int:
    """0 (ACCESS SHARE) … 7 (ACCESS EXCLUSIVE); -1 for no lock."""
    return LOCK_MODES.index(mode) if mode in LOCK_MODES else -1


def conflicts(held: str, wanted: str) -> bool:
    """Whether a lock in mode `held` makes a request for `wanted` wait (PostgreSQL's conflict table)."""
    return wanted in _CONFLICTS.get(held, set())


def blocks(mode: str) -> str:
    """What a lock in this mode makes other sessions wait for, in words."""
    if conflicts(mode, _AS):
        return "reads and writes"
    if conflicts(mode, _RE):
        return "writes" + (" and SELECT … FOR UPDATE" if conflicts(mode, _RS) else "")
    if conflicts(mode, _SUE):
        return "other schema changes, VACUUM and ANALYZE"
    return "only " + ", ".join(m for m in LOCK_MODES if conflicts(mode, m)) + " locks"


@dataclass(frozen=True)
class LockEffect:
    """One relation a statement locks: the mode, and whether the statement rewrites or scans it."""

    table: str
    mode: str
    rewrite: bool = False
    scan: bool = False
    why: str = ""  # the operation that takes it: "ADD COLUMN email", "FOREIGN KEY to users"

    @property
    def blocks(self) -> str:
        return blocks(self.mode)


def lock_effects(stmt: Statement, *, pg_version: int = 15, facts: Facts = NO_FACTS) -> list[LockEffect]:
    """The relations a statement locks, strongest mode per relation, with rewrite and scan flags.

    Empty for statements that take no relation lock that matters (CREATE FUNCTION, SET, SELECT…).
    Tables the statement itself creates are left out; callers drop tables created earlier in
    the same migration, which are new and empty.
    """
    merged: dict[str, LockEffect] = {}
    for eff in statement_effects(describe(stmt), pg_version, facts):
        old = merged.get(eff.table)
        if old is None:
            merged[eff.table] = eff
            continue
        mode = eff.mode if lock_rank(eff.mode) > lock_rank(old.mode) else old.mode
        why = old.why if eff.why in old.why else f"{old.why}; {eff.why}"
        merged[eff.table] = LockEffect(eff.table, mode, old.rewrite or eff.rewrite, old.scan or eff.scan, why)
    return list(merged.values())


# ALTER TABLE subcommands whose effect on the table is fixed: verb -> (mode, rewrite, scan).
# Anything not listed takes ACCESS EXCLUSIVE, ALTER TABLE's default.
_ALTER_ACTIONS = {
    "SET EXPRESSION": (_AE, True, True),  # 17+
    "SET LOGGED": (_AE, True, True),
    "SET UNLOGGED": (_AE, True, True),
    "SET ACCESS METHOD": (_AE, True, True),  # (docs) when the method differs
    "SET TABLESPACE": (_AE, True, False),  # (docs) copies the files
    "VALIDATE CONSTRAINT": (_SUE, False, True),
    "SET STATISTICS": (_SUE, False, False),
    "SET ATTRIBUTE OPTIONS": (_SUE, False, False),
    "CLUSTER ON": (_SUE, False, False),
    "SET WITHOUT CLUSTER": (_SUE, False, False),
    "SET OPTIONS": (_SUE, False, False),  # fillfactor, autovacuum_*, toast.* and planner options
    "RESET OPTIONS": (_SUE, False, False),
    "ENABLE TRIGGER": (_SRE, False, False),
    "DISABLE TRIGGER": (_SRE, False, False),
}


def _alter_table_effects(a: Any, pg_version: int, facts: Facts) -> list[LockEffect]:
    table = a.table or "?"
    out: list[LockEffect] = []
    for act in a.actions:
        what = f"{act.verb} {act.column or act.name or ''}".strip()
        if act.verb in _ALTER_ACTIONS:
            mode, rewrite, scan = _ALTER_ACTIONS[act.verb]
            out.append(LockEffect(table, mode, rewrite, scan, what))
        elif act.verb == "ADD COLUMN" and act.coldef is not None:
            col = act.coldef
            rewrite = add_column_rewrite(col, pg_version=pg_version, facts=facts) is not None
            scan = rewrite or bool(col.check or col.unique or col.primary_key)
            out.append(LockEffect(table, _AE, rewrite, scan, what))
            if col.references and not same_name(col.references, table):
                out.append(LockEffect(col.references, _SRE, why=f"FOREIGN KEY from {table}.{col.name}"))
        elif act.verb == "ALTER COLUMN TYPE":
            old = facts.column_type(table, act.column or "")
            rewrite = type_change_rewrites(old, act.type or "", using="USING" in act.flags, pg_version=pg_version)
            scan = rewrite is not False or facts.column_has_check(table, act.column or "")
            out.append(LockEffect(table, _AE, rewrite is not False, scan, what))
        elif act.verb == "SET NOT NULL":
            scan = set_not_null_scans(table, act.column or "", pg_version=pg_version, facts=facts)
            out.append(LockEffect(table, _AE, False, scan, what))
        elif act.verb == "ADD CONSTRAINT" and act.constraint is not None:
            out.extend(_add_constraint_effects(table, act.constraint, what))
        elif act.verb == "DROP CONSTRAINT":
            out.append(LockEffect(table, _AE, why=what))
            target = facts.foreign_key_target(table, act.name or "")
            if target:
                out.append(LockEffect(target, _AE, why=f"dropping FOREIGN KEY {act.name} from {table}"))
        elif act.verb == "ATTACH PARTITION":
            out.append(LockEffect(table, _SUE if pg_version >= 12 else _AE, why=what))
            out.append(LockEffect(act.name or "?", _AE, scan=True, why=f"attached to {table}: its rows are checked"))
        elif act.verb == "DETACH PARTITION":
            mode = _SUE if "CONCURRENTLY" in act.flags else _AE
            out += [LockEffect(table, mode, why=what), LockEffect(act.name or "?", mode, why=f"detached from {table}")]
        else:
            out.append(LockEffect(table, _AE, why=what))
    return out


def _add_constraint_effects(table: str, k: Any, what: str) -> list[LockEffect]:
    unchecked = k.not_valid or k.not_enforced
    if k.kind == "FOREIGN KEY":
        out = [LockEffect(table, _SRE, scan=not unchecked, why=what)]
        if k.references and not same_name(k.references, table):
            out.append(LockEffect(k.references, _SRE, scan=not unchecked, why=f"FOREIGN KEY from {table}"))
        return out
    scan = {"CHECK": not unchecked, "NOT NULL": not unchecked, "EXCLUDE": True}.get(k.kind, k.using_index is None)
    return [LockEffect(table, _AE, scan=scan, why=what)]


def _each(names: Any, mode: str, why: str, **flags: bool) -> list[LockEffect]:
    return [LockEffect(n, mode, why=why, **flags) for n in names if n]


def _index_effects(a: Any, facts: Facts) -> list[LockEffect]:
    if a.kind == "CREATE INDEX":
        if "CONCURRENTLY" in a.flags:
            return _each([a.table], _SUE, "CREATE INDEX CONCURRENTLY", scan=True)
        if "ONLY" in a.flags:
            return _each([a.table], _S, "CREATE INDEX ON ONLY")
        why = "CREATE INDEX" + (" (and on every partition)" if facts.is_partitioned(a.table or "") else "")
        return _each([a.table], _S, why, scan=True)
    mode = _SUE if "CONCURRENTLY" in a.flags else _AE
    tables = [facts.index_table(n) for n in a.objects]
    return _each(a.objects, mode, a.kind) + _each(tables, mode, f"{a.kind} {a.object}")


def _reindex_effects(a: Any, facts: Facts) -> list[LockEffect]:
    if not a.flags & {"TABLE", "INDEX"}:
        return []
    if "CONCURRENTLY" in a.flags:
        return _each([a.object], _SUE, "REINDEX CONCURRENTLY", scan=True)
    table = a.object if "TABLE" in a.flags else facts.index_table(a.object or "")
    out = _each([table], _S, "REINDEX", scan=True)
    return out + ([] if table else _each([a.object], _AE, "REINDEX (and SHARE on its table)", scan=True))


_DROPS = {"DROP TABLE", "DROP VIEW", "DROP MATERIALIZED VIEW", "DROP SEQUENCE", "DROP FOREIGN TABLE", "TRUNCATE"}


def statement_effects(a: Any, pg_version: int = 15, facts: Facts = NO_FACTS) -> list[LockEffect]:
    """Unmerged lock effects of one statement's anatomy (see lock_effects)."""
    k = a.kind
    if k == "ALTER TABLE":
        return _alter_table_effects(a, pg_version, facts)
    if k == "CREATE TABLE":
        out = _each([a.parent], _AE, f"CREATE TABLE {a.object} PARTITION OF")
        refs = [c.references for c in a.columns] + [c.references for c in a.constraints]
        out += _each([r for r in refs if r and not same_name(r, a.object)], _SRE, f"FOREIGN KEY from {a.object}")
        return out + (_each(a.reads, _AS, "CREATE TABLE … AS", scan=True) if "AS" in a.flags else [])
    if k in ("CREATE INDEX", "DROP INDEX"):
        return _index_effects(a, facts)
    if k == "REINDEX":
        return _reindex_effects(a, facts)
    if k in _DROPS:
        return _each(a.objects, _AE, k)
    if k in ("CLUSTER", "VACUUM", "ANALYZE"):
        heavy = k == "CLUSTER" or "FULL" in a.flags
        return _each(a.objects, _AE if heavy else _SUE, k + (" FULL" if "FULL" in a.flags else ""),
                     rewrite=heavy, scan=heavy)  # fmt: skip
    if k == "REFRESH MATERIALIZED VIEW":
        conc = "CONCURRENTLY" in a.flags
        return _each([a.object], _E if conc else _AE, k, rewrite=not conc, scan=True)
    if k in ("CREATE TRIGGER", "DROP TRIGGER", "CREATE POLICY", "ALTER POLICY", "DROP POLICY", "CREATE RULE",
             "DROP RULE", "ALTER TRIGGER"):  # fmt: skip
        return _each([a.table], _SRE if k == "CREATE TRIGGER" else _AE, f"{k} {a.object}")
    if k == "COMMENT" and a.table:
        return _each([a.table], _SUE, "COMMENT ON")
    if k in ("GRANT", "REVOKE") and "TABLE" in a.flags and pg_version >= 18:
        return _each(a.objects, _AS, k)
    if k in ("CREATE VIEW", "CREATE MATERIALIZED VIEW"):
        return _each(a.reads, _AS, f"read by {a.object}", scan=k == "CREATE MATERIALIZED VIEW")
    if k == "ALTER SEQUENCE":
        return _each([a.object], _SRE, k)
    if k in ("ALTER INDEX", "ALTER VIEW", "ALTER MATERIALIZED VIEW"):
        verb = a.actions[0].verb if a.actions else ""
        mode = _SUE if (k == "ALTER INDEX" and verb in ("RENAME TO", "ATTACH PARTITION") and pg_version >= 12) else _AE
        return _each([a.object], mode, f"{k} {verb}".strip(), rewrite=verb == "SET TABLESPACE")
    if k == "LOCK":
        return _each(a.objects, a.detail if a.detail in LOCK_MODES else _AE, "LOCK")
    if k in ("UPDATE", "DELETE", "INSERT", "MERGE"):
        return _each([a.table], _RE, k, scan=k != "INSERT" and "WHERE" not in a.flags)
    return []
