"""What PostgreSQL does with each kind of statement: the one place for that knowledge.

Lock levels, rewrites, and which statements refuse to run inside a transaction block
live here, and everything else (runner, check, lint, plan) asks this module. The facts
come from ../shared/lint-rules.md §2-§3 (measured on PostgreSQL 15.18 and 18.6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


def not_in_transaction_reason(stmt: Statement, *, pg_version: int | None = None) -> str | None:
    """Why PostgreSQL refuses this statement inside a transaction block, or None when it allows it.

    `pg_version` matters only for ALTER TYPE … ADD VALUE, refused in a transaction before 12.
    """
    from sqlmig import ddl

    a = ddl.describe(stmt)
    kind, flags = a.kind, a.flags
    words = ddl.words(stmt)
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


# ---------------------------------------------------------------- locks, rewrites and scans (lint-rules.md §2)
# One entry per operation, measured on PostgreSQL 15.18 and 18.6 unless marked (docs).
# `lock_effects` reads a statement's anatomy (sqlmig.ddl) and returns what the server will
# lock, and whether it rewrites or scans; lint, plan and verify all ask this one function.

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


class Facts:
    """What sqlmig knows about the schema before a statement (lint fills it from earlier migrations).

    The defaults answer "unknown" conservatively: a type change may rewrite, SET NOT NULL scans.
    """

    def column_type(self, table: str, column: str) -> str | None:
        return None

    def column_has_check(self, table: str, column: str) -> bool:
        return False

    def has_valid_not_null_check(self, table: str, column: str) -> bool:
        return False

    def is_partitioned(self, table: str) -> bool:
        return False

    def domain_has_check(self, type_name: str) -> bool:
        return False

    def foreign_key_target(self, table: str, constraint: str) -> str | None:
        return None

    def index_table(self, index: str) -> str | None:
        return None


NO_FACTS = Facts()

# Functions a column default may call without forcing a rewrite (IMMUTABLE or STABLE); anything
# else is volatile (below) or unknown (a user function). Lower-case, unqualified.
_VOLATILE = frozenset({"random", "random_normal", "setseed", "clock_timestamp", "timeofday", "gen_random_uuid",
                       "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4", "uuidv4", "uuidv7", "nextval",
                       "lastval", "txid_current", "pg_current_xact_id", "gen_random_bytes", "gen_salt"})  # fmt: skip
_NOT_VOLATILE = frozenset(
    """now transaction_timestamp statement_timestamp current_timestamp localtimestamp current_date
 current_time localtime current_setting current_user session_user current_schema lower upper initcap trim btrim ltrim
 rtrim length char_length substr substring replace concat concat_ws format md5 sha256 encode decode to_char to_date
 to_timestamp to_number to_json to_jsonb json_build_object jsonb_build_object json_build_array jsonb_build_array
 array_fill array_append cardinality make_interval make_date make_time make_timestamp make_timestamptz date_trunc
 date_part extract age justify_interval abs round floor ceil ceiling greatest least coalesce nullif cast timezone
 power sqrt mod lpad rpad left right split_part regexp_replace string_to_array array_to_string tsrange tstzrange
 daterange int4range int8range numrange point array jsonb json text int4 int8 numeric""".split()  # noqa: SIM905
)


def default_volatility(functions: tuple[str, ...]) -> tuple[str, str | None]:
    """('volatile'|'unknown'|'stable', the function that decides) for the functions a default calls."""
    for fn in functions:
        if fn in _VOLATILE:
            return "volatile", fn
    for fn in functions:
        if fn not in _NOT_VOLATILE:
            return "unknown", fn
    return "stable", None


_TYPE_ALIASES = {"int": "integer", "int4": "integer", "int8": "bigint", "int2": "smallint", "bool": "boolean",
                 "decimal": "numeric", "float8": "double precision", "float": "double precision", "float4": "real",
                 "character varying": "varchar", "char varying": "varchar", "character": "char", "bpchar": "char",
                 "timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz",
                 "time without time zone": "time", "time with time zone": "timetz", "bit varying": "varbit",
                 "serial4": "serial", "serial8": "bigserial", "serial2": "smallserial"}  # fmt: skip
SERIAL_TYPES = frozenset({"serial", "bigserial", "smallserial"})


@dataclass(frozen=True)
class PgType:
    base: str  # canonical name: integer, varchar, timestamptz, numeric, a domain or enum name
    args: tuple[str, ...] = ()
    array: bool = False

    def __str__(self) -> str:
        return self.base + (f"({','.join(self.args)})" if self.args else "") + ("[]" if self.array else "")


def parse_type(text: str) -> PgType:
    """'character varying(10)' -> varchar(10); 'timestamp(3) with time zone' -> timestamptz(3); 'int[]' -> integer[]."""
    import re

    t = " ".join(text.lower().replace('"', "").split())
    array = t.endswith("[]") or t.endswith(" array")
    t = re.sub(r"(\s*\[\d*\])+$|\s+array$", "", t)
    args: tuple[str, ...] = ()
    m = re.search(r"\(([^)]*)\)", t)
    if m:
        args = tuple(a.strip() for a in m.group(1).split(","))
        t = (t[: m.start()] + t[m.end() :]).strip()
    t = " ".join(t.split()).removeprefix("pg_catalog.")
    return PgType(_TYPE_ALIASES.get(t, t), args, array)


def type_change_rewrites(old: str | None, new: str, *, using: bool = False, pg_version: int = 15) -> bool | None:
    """Whether ALTER COLUMN … TYPE rewrites the table: True, False, or None when it cannot be known
    (the old type is unknown, or timestamp↔timestamptz, which skips the rewrite only with TimeZone UTC)."""
    if old is None:
        return None
    o, n = parse_type(old), parse_type(new)
    if o.array != n.array or using:
        return True
    if (o.base, o.args) == (n.base, n.args):
        return False
    if o.base == n.base:
        return _same_base_rewrites(o, n)
    if {o.base, n.base} <= {"text", "varchar", "citext"}:  # binary-coercible unless a length is imposed
        return n.base == "varchar" and bool(n.args)
    if (o.base, n.base) == ("cidr", "inet"):
        return False
    if {o.base, n.base} == {"timestamp", "timestamptz"} and pg_version >= 12:
        return None
    return True


def _same_base_rewrites(o: PgType, n: PgType) -> bool:
    if not n.args:  # varchar(10) -> varchar, numeric(10,2) -> numeric: no limit, no rewrite
        return o.base in ("char", "bit")
    if not o.args:
        return True
    try:
        old_args, new_args = [int(a) for a in o.args], [int(a) for a in n.args]
    except ValueError:
        return True
    if o.base in ("varchar", "varbit", "timestamp", "timestamptz", "time", "timetz", "interval"):
        return new_args[0] < old_args[0]
    if o.base == "numeric":
        return new_args[1:] != old_args[1:] or new_args[0] < old_args[0]
    return True


@dataclass(frozen=True)
class Rewrite:
    """Why ADD COLUMN rewrites the table. `cause`: serial | identity | generated | default | domain."""

    cause: str
    why: str
    certain: bool = True  # False: the default calls a function whose volatility sqlmig cannot know


def add_column_rewrite(col: Any, *, pg_version: int = 15, facts: Facts = NO_FACTS) -> Rewrite | None:
    """Why ADD COLUMN rewrites the table and all its indexes, or None when it only touches the catalog."""
    typ = parse_type(col.type)
    if typ.base in SERIAL_TYPES:
        return Rewrite("serial", f"a {typ.base} column fills every existing row from a sequence")
    if col.generated == "identity":
        return Rewrite("identity", "an identity column fills every existing row from a sequence")
    if col.generated == "stored" or (col.generated == "virtual" and pg_version < 18):
        return Rewrite("generated", "a stored generated column is computed for every existing row")
    if col.default is None or col.default.upper() == "NULL":
        return None
    if facts.domain_has_check(typ.base):
        return Rewrite("domain", f"its type, the domain {typ.base}, has a CHECK, so every row is rewritten")
    if pg_version < 11:
        return Rewrite("default", "before PostgreSQL 11 any non-NULL default fills every existing row")
    volatility, fn = default_volatility(col.default_functions)
    if volatility == "volatile":
        return Rewrite("default", f"the default calls {fn}(), which is VOLATILE: it is evaluated for every row")
    if volatility == "unknown":
        return Rewrite("default", f"the default calls {fn}(); if that function is VOLATILE every row is rewritten",
                       certain=False)  # fmt: skip
    return None


def set_not_null_scans(table: str, column: str, *, pg_version: int = 15, facts: Facts = NO_FACTS) -> bool:
    """SET NOT NULL scans the whole table unless a validated CHECK (col IS NOT NULL) proves it (PostgreSQL 12+)."""
    return not (pg_version >= 12 and facts.has_valid_not_null_check(table, column))


def lock_effects(stmt: Statement, *, pg_version: int = 15, facts: Facts = NO_FACTS) -> list[LockEffect]:
    """The relations a statement locks, strongest mode per relation, with rewrite and scan flags.

    Empty for statements that take no relation lock that matters (CREATE FUNCTION, SET, SELECT…).
    Tables the statement itself creates are left out; callers drop tables created earlier in
    the same migration, which are new and empty.
    """
    from sqlmig import ddl

    merged: dict[str, LockEffect] = {}
    for eff in statement_effects(ddl.describe(stmt), pg_version, facts):
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
            if col.references and not ddl_same(col.references, table):
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
        if k.references and not ddl_same(k.references, table):
            out.append(LockEffect(k.references, _SRE, scan=not unchecked, why=f"FOREIGN KEY from {table}"))
        return out
    scan = {"CHECK": not unchecked, "NOT NULL": not unchecked, "EXCLUDE": True}.get(k.kind, k.using_index is None)
    return [LockEffect(table, _AE, scan=scan, why=what)]


def ddl_same(a: str | None, b: str | None) -> bool:
    from sqlmig.ddl import same_name

    return same_name(a, b)


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
        out += _each([r for r in refs if r and not ddl_same(r, a.object)], _SRE, f"FOREIGN KEY from {a.object}")
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


def changes_session(stmt: Statement) -> bool:
    """SET (not SET LOCAL), RESET, SET ROLE / SESSION AUTHORIZATION: state that outlives the transaction."""
    words = stmt.keywords
    if words[:1] == ("RESET",):
        return True
    return words[:1] == ("SET",) and words[1:2] != ("LOCAL",) and words[1:2] != ("CONSTRAINTS",)


# ---------------------------------------------------------------- what a statement does to schema and data
# For `sqlmig check`, which holds a manifest to its SQL (phase, point_of_no_return, batch).
# Built on sqlmig.ddl's token-level anatomy (it names objects even where sqlglot gives up);
# sqlglot's tree only for what needs expressions: an INSERT's SELECT, a WHERE's shape.

_DDL_HEADS = {"CREATE", "ALTER", "DROP", "COMMENT", "GRANT", "REVOKE", "REINDEX", "CLUSTER", "SECURITY", "IMPORT"}
_DML_KINDS = {"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE"}
_DESTRUCTIVE_DROPS = {"DROP TABLE", "DROP SCHEMA", "DROP DATABASE"}
_BREAKING_VERBS = {
    "RENAME TO": "… RENAME TO: code still using the old name breaks",
    "RENAME COLUMN": "RENAME COLUMN: code still using the old name breaks",
    "RENAME VALUE": "RENAME VALUE: code still using the old label breaks",
    "SET SCHEMA": "SET SCHEMA: code using the old qualified name breaks",
    "ALTER COLUMN TYPE": "ALTER COLUMN … TYPE: code reading or writing the old type may break",
    "DROP DEFAULT": "DROP DEFAULT: writers that relied on the default now store NULL or fail",
}


def _anatomy(stmt: Statement) -> Any:
    from sqlmig.ddl import describe

    return describe(stmt)


def fold_name(name: str) -> str:
    """A relation name as PostgreSQL resolves it: unquoted parts fold to lower case (A."B" -> a.B)."""
    return ".".join(p[1:-1] if p.startswith('"') and p.endswith('"') else p.lower() for p in name.split("."))


def same_table(a: str, b: str) -> bool:
    """Whether two relation names can mean the same table (an unqualified name matches any schema)."""
    from sqlmig.ddl import same_name

    return same_name(fold_name(a), fold_name(b))


def is_ddl(stmt: Statement) -> bool:
    """A schema change (CREATE/ALTER/DROP/COMMENT/GRANT …). Temporary tables, SET and DML are not."""
    a = _anatomy(stmt)
    return a.kind.split(" ")[0] in _DDL_HEADS and "TEMPORARY" not in a.flags


def is_dml(stmt: Statement) -> bool:
    """A data change: INSERT, UPDATE, DELETE, MERGE, TRUNCATE (also behind a WITH)."""
    return dml_kind(stmt) is not None


def dml_kind(stmt: Statement) -> str | None:
    """INSERT, UPDATE, DELETE, MERGE or TRUNCATE (also behind a WITH) for a data change; None otherwise."""
    kind = _anatomy(stmt).kind
    return kind if kind in _DML_KINDS else None


def created_table(stmt: Statement) -> str | None:
    """The table a CREATE TABLE (not TEMP) makes, or None."""
    a = _anatomy(stmt)
    return a.object if a.kind == "CREATE TABLE" and "TEMPORARY" not in a.flags else None


def dml_target(stmt: Statement) -> str | None:
    """The table an UPDATE, DELETE or INSERT writes (TRUNCATE: its first table), or None."""
    a = _anatomy(stmt)
    return a.table if a.kind in _DML_KINDS else None


def target_tables(stmt: Statement) -> list[str]:
    """The tables a data change, DROP TABLE, TRUNCATE or ALTER TABLE acts on ([] when unknown)."""
    a = _anatomy(stmt)
    if a.kind in ("DROP TABLE", "TRUNCATE"):
        return list(a.objects)
    return [a.table] if a.table and (a.kind in _DML_KINDS or a.kind == "ALTER TABLE") else []


def insert_select_reads(stmt: Statement) -> set[str] | None:
    """For INSERT … SELECT: the tables its query reads; None for any other statement (INSERT … VALUES too)."""
    from sqlglot import exp

    tree = stmt.parse()
    if not isinstance(tree, exp.Insert) or not isinstance(tree.expression, (exp.Select, exp.SetOperation)):
        return None
    return {".".join(p.name for p in t.parts) for t in tree.expression.find_all(exp.Table) if t.name}


def rows_pinned(stmt: Statement) -> bool:
    """An UPDATE/DELETE whose WHERE pins rows by `col = constant` or `col IN (constants)`: a point change."""
    from sqlglot import exp

    tree = stmt.parse()
    where = tree.args.get("where") if isinstance(tree, (exp.Update, exp.Delete)) else None
    if where is None:
        return False
    conjuncts = list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]
    for c in conjuncts:
        if isinstance(c, exp.EQ) and any(isinstance(x, exp.Column) for x in (c.left, c.right)) and any(
            isinstance(x, (exp.Literal, exp.Placeholder)) for x in (c.left, c.right)
        ):
            return True
        if isinstance(c, exp.In) and c.expressions and all(isinstance(e, exp.Literal) for e in c.expressions):
            return True
    return False


def destructive_reason(stmt: Statement) -> str | None:
    """Why this statement destroys data (a table, a column, rows), or None. Whether the object is new: the caller's."""
    a = _anatomy(stmt)
    if a.kind in _DESTRUCTIVE_DROPS:
        return f"{a.kind} destroys the {a.kind[5:].lower()} and its data"
    if a.kind.startswith("DROP ") and "CASCADE" in a.flags:
        return f"{a.kind} … CASCADE also drops whatever depends on it, columns and tables included"
    if "DROP COLUMN" in a.verbs:
        return "DROP COLUMN destroys the column and its data"
    if a.kind == "TRUNCATE":
        return "TRUNCATE deletes every row"
    if a.kind == "DELETE":
        return "DELETE removes rows"
    return None


def backward_incompatible_reason(stmt: Statement, new_tables: Any = ()) -> str | None:
    """Why code written for the schema before this statement may break after it, or None.

    Destructive statements, renames, SET SCHEMA, type changes, DROP DEFAULT, dropping
    anything but an index, and SET NOT NULL or a NOT NULL column without a default on a
    table that existed before (`new_tables`: created earlier in the same migration, exempt).
    """
    reason = destructive_reason(stmt)
    if reason:
        return reason
    a = _anatomy(stmt)
    if a.kind.startswith("DROP ") and a.kind != "DROP INDEX":
        return f"{a.kind}: code that uses it breaks"
    for verb in a.verbs:
        if verb in _BREAKING_VERBS:
            return _BREAKING_VERBS[verb]
    if a.kind != "ALTER TABLE" or any(same_table(a.table or "", n) for n in new_tables):
        return None
    for action in a.actions:
        if action.verb == "SET NOT NULL" or (action.constraint is not None and action.constraint.kind == "NOT NULL"):
            return "SET NOT NULL on an existing column: writers that leave it empty start failing"
        col = action.coldef
        if action.verb == "ADD COLUMN" and col and col.not_null and col.default is None and not col.generated:
            return "ADD COLUMN … NOT NULL without a default: existing writers start failing"
    return None


def is_additive(stmt: Statement) -> bool:
    """Only adds: CREATE (not OR REPLACE), ADD COLUMN/CONSTRAINT/VALUE, COMMENT, GRANT."""
    a = _anatomy(stmt)
    if a.kind.startswith("CREATE"):
        return "OR REPLACE" not in a.flags
    if a.kind in ("COMMENT", "GRANT"):
        return True
    if a.kind in ("ALTER TABLE", "ALTER TYPE") and a.verbs:
        return all(v in ("ADD COLUMN", "ADD CONSTRAINT", "ADD VALUE") for v in a.verbs)
    return False
