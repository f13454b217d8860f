"""When a schema change rewrites or scans a table: type changes, column defaults, SET NOT NULL.

These answers depend on the function a default calls, the old and new type, the server
version and what is known about the schema before the statement (`Facts`), so they live
apart from the lock table that asks them (sqlmig.postgres.locks) and from the lint rules
that explain them. Measured on PostgreSQL 15.18 and 18.6 (../shared/lint-rules.md §2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


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
