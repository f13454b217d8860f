"""Schema fingerprint: a normalised snapshot of a database's schema, read from the catalogs.

Not pg_dump (whose major version must match the server's): a dozen catalog queries,
each object keyed by its schema-qualified name (never an OID), every list sorted, so the
snapshot of one schema is the same on every run and every server of a major version,
whatever order its objects were created in. Sequence values, statistics, table data and
sqlmig's own tables are left out. `compare()` in sqlmig.schemadiff turns two snapshots
into lines a person can read.

Shape: {kind: {name: {attribute: value}}}; attributes that are None are left out, so a
snapshot stays small and its JSON (sorted keys) hashes to the same sha256 everywhere.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import Any

Snapshot = dict[str, dict[str, dict[str, Any]]]

# Schemas that belong to the server, not to the project.
_USER_NS = """n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"""


# Objects created by CREATE EXTENSION belong to the extension, not to the project.
def _not_member(catalog: str, oid: str, deptypes: str = "'e'") -> str:
    return f"""NOT EXISTS (SELECT 1 FROM pg_depend e
  WHERE e.classid = '{catalog}'::regclass AND e.objid = {oid} AND e.deptype IN ({deptypes}))"""


# sqlmig's own relations (history, snapshots, checkpoints): never part of the user's schema.
_NOT_OWN = "NOT ({ns}.nspname = %(own_schema)s AND {rel}.relname LIKE ANY (%(own_patterns)s))"


# The database owner, evaluated once per query (an InitPlan): owners are mentioned only when they differ.
_DB_OWNER = "(SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database())"


def _owner(col: str) -> str:
    """An owner's name only when it is not the database owner (the usual case needs no mention)."""
    return f"NULLIF(NULLIF(pg_get_userbyid({col}), {_DB_OWNER}), 'pg_database_owner')"


def _comment(catalog: str, oid: str, subid: str = "0") -> str:
    """A LEFT JOIN of the object's comment as `ds.description`: what obj_description()/col_description()
    return, without calling a SQL-language function per row (on 1,000 indexes that call costs more than
    the rest of the row but pg_get_indexdef). pg_description is unique on (objoid, classoid, objsubid)."""
    return (f"LEFT JOIN pg_description ds ON ds.objoid = {oid} AND ds.classoid = '{catalog}'::regclass "
            f"AND ds.objsubid = {subid}")  # fmt: skip


def _grants(acl: str, owner: str, kind: str) -> str:
    """Privileges that differ from the defaults, as sorted 'grant P to R' / 'revoke P from R' strings.

    Comparing with acldefault() keeps privileges that only newer servers have (MAINTAIN, 17+)
    out of the snapshot, and NULL (never granted or revoked) stays NULL.
    """
    who = (
        f"CASE WHEN x.grantee = 0 THEN 'PUBLIC' WHEN x.grantee = {owner} THEN '(owner)' "
        "ELSE pg_get_userbyid(x.grantee) END"
    )
    item = "x.privilege_type || CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END"
    default = f"acldefault('{kind}', {owner})"
    return f"""CASE WHEN {acl} IS NOT NULL THEN (SELECT array_agg(g ORDER BY g) FROM (
  (SELECT 'grant ' || {item} || ' to ' || {who} AS g FROM aclexplode({acl}) x
   EXCEPT SELECT 'grant ' || {item} || ' to ' || {who} FROM aclexplode({default}) x)
  UNION ALL
  (SELECT 'revoke ' || {item} || ' from ' || {who} FROM aclexplode({default}) x
   EXCEPT SELECT 'revoke ' || {item} || ' from ' || {who} FROM aclexplode({acl}) x)) d) END"""


SCHEMAS = f"""
SELECT n.nspname, {_owner("n.nspowner")}, {_grants("n.nspacl", "n.nspowner", "n")},
       ds.description
FROM pg_namespace n
{_comment("pg_namespace", "n.oid")}
WHERE {_USER_NS} AND n.nspname <> %(own_schema_hidden)s AND {_not_member("pg_namespace", "n.oid")}
"""

# Tables, partitioned tables, foreign tables, views, materialized views and sequences.
RELATIONS = f"""
SELECT n.nspname, c.relname, c.relkind, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       (SELECT pn.nspname || '.' || pc.relname FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
          JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid AND c.relispartition),
       pg_get_expr(c.relpartbound, c.oid),
       c.reloptions, {_owner("c.relowner")},
       {_grants("c.relacl", "c.relowner", "r")},
       ds.description,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
       CASE WHEN am.amname <> 'heap' THEN am.amname END,
       format_type(s.seqtypid, NULL), s.seqincrement, s.seqmin, s.seqmax, s.seqstart, s.seqcache, s.seqcycle,
       (SELECT dn.nspname || '.' || dc.relname || '.' || a.attname FROM pg_depend d
          JOIN pg_class dc ON dc.oid = d.refobjid JOIN pg_namespace dn ON dn.oid = dc.relnamespace
          JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i') LIMIT 1)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_sequence s ON s.seqrelid = c.oid
{_comment("pg_class", "c.oid")}
WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND {_USER_NS}
  AND {_not_member("pg_class", "c.oid")} AND {_NOT_OWN.format(ns="n", rel="c")}
"""

# Columns of tables and foreign tables, and attributes of composite types (relkind 'c').
COLUMNS = f"""
SELECT n.nspname, c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod),
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
       a.attnotnull, NULLIF(a.attidentity, ''),
       CASE WHEN a.attgenerated <> '' THEN a.attgenerated::text || ' ' || pg_get_expr(d.adbin, d.adrelid) END,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END,
       ds.description,
       CASE WHEN a.attacl IS NOT NULL THEN
         (SELECT array_agg(g ORDER BY g) FROM (SELECT 'grant ' || x.privilege_type || ' to '
            || CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END AS g
            FROM aclexplode(a.attacl) x) d) END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
{_comment("pg_class", "c.oid", "a.attnum")}
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f', 'c') AND {_USER_NS}
  AND {_not_member("pg_class", "c.oid")} AND {_NOT_OWN.format(ns="n", rel="c")}
ORDER BY n.nspname, c.relname, a.attnum
"""

# NOT NULL constraints (contype 'n', catalogued from PostgreSQL 18) are read as the column's
# not_null flag instead, so that 15 and 18 agree.
CONSTRAINTS = f"""
SELECT n.nspname, c.relname, con.conname, pg_get_constraintdef(con.oid), ds.description
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
{_comment("pg_constraint", "con.oid")}
WHERE con.contype <> 'n' AND {_USER_NS} AND {_NOT_OWN.format(ns="n", rel="c")}
  AND {_not_member("pg_class", "c.oid")}
"""

INDEXES = f"""
SELECT n.nspname, ic.relname, pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisclustered,
       ds.description
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
{_comment("pg_class", "ic.oid")}
WHERE {_USER_NS} AND {_NOT_OWN.format(ns="n", rel="c")} AND {_not_member("pg_class", "c.oid")}
"""

TRIGGERS = f"""
SELECT n.nspname, c.relname, tg.tgname, pg_get_triggerdef(tg.oid), tg.tgenabled, ds.description
FROM pg_trigger tg
JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
{_comment("pg_trigger", "tg.oid")}
WHERE NOT tg.tgisinternal AND {_USER_NS} AND {_NOT_OWN.format(ns="n", rel="c")}
"""

POLICIES = f"""
SELECT n.nspname, c.relname, p.polname, p.polcmd, p.polpermissive,
       (SELECT array_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r) END ORDER BY 1)
          FROM unnest(p.polroles) r),
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER_NS}
"""

# Rules other than the ones that implement views.
RULES = f"""
SELECT n.nspname, c.relname, r.rulename, pg_get_ruledef(r.oid)
FROM pg_rewrite r
JOIN pg_class c ON c.oid = r.ev_class
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.rulename <> '_RETURN' AND {_USER_NS}
"""

# {body}: prosqlbody (BEGIN ATOMIC / RETURN bodies) exists from PostgreSQL 14.
FUNCTIONS = f"""
SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prokind,
       pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), l.lanname, p.provolatile,
       p.proisstrict, p.prosecdef, p.proparallel, p.proleakproof, p.proconfig,
       CASE WHEN p.prokind = 'a' THEN NULL ELSE {{body}} END,
       {_owner("p.proowner")}, {_grants("p.proacl", "p.proowner", "f")}, ds.description
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
{_comment("pg_proc", "p.oid")}
WHERE {_USER_NS} AND {_not_member("pg_proc", "p.oid", "'e', 'i'")}
"""
_BODY_14 = "CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid) ELSE p.prosrc END"

# Enums, domains, composite and range types (array and table row types come with their owners).
TYPES = f"""
SELECT n.nspname, t.typname, t.typtype,
       (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
       NULLIF(t.typnotnull, false), t.typdefault,
       (SELECT array_agg(dc.conname || ': ' || pg_get_constraintdef(dc.oid) ORDER BY dc.conname)
          FROM pg_constraint dc WHERE dc.contypid = t.oid AND dc.contype <> 'n'),
       (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid),
       {_owner("t.typowner")}, {_grants("t.typacl", "t.typowner", "T")}, ds.description
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_class c ON c.oid = t.typrelid
{_comment("pg_type", "t.oid")}
WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c')) AND {_USER_NS}
  AND {_not_member("pg_type", "t.oid")}
"""

EXTENSIONS = """
SELECT x.extname, x.extversion, n.nspname FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
"""

STATISTICS = f"""
SELECT n.nspname, s.stxname, pg_get_statisticsobjdef(s.oid)
FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
WHERE {_USER_NS}
"""

_RELKINDS = {"r": "table", "p": "table", "f": "foreign table", "v": "view", "m": "materialized view", "S": "sequence"}
_PROKINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window function"}
_TYPTYPES = {"e": "enum", "d": "domain", "c": "composite type", "r": "range type"}
_VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}
_PARALLEL = {"s": "safe", "r": "restricted", "u": "unsafe"}
_POLCMD = {"*": "ALL", "r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE"}
_IDENTITY = {"a": "always", "d": "by default"}
_TRIGGER_STATE = {"O": None, "D": "disabled", "R": "enabled replica", "A": "enabled always"}


@dataclass(frozen=True)
class Fingerprint:
    """A snapshot of a schema and its hash (sha256 of the snapshot's canonical JSON)."""

    snapshot: Snapshot
    server_version: int

    @cached_property
    def canonical(self) -> bytes:
        """The canonical JSON, encoded once for both the hash and the stored snapshot."""
        return canonical_json(self.snapshot)

    @cached_property
    def hash(self) -> str:
        return hashlib.sha256(self.canonical).hexdigest()

    def compress(self) -> bytes:
        """zlib level 1: a tenth of the JSON's size, at a third of level 6's time (the sizes differ by 15%)."""
        return zlib.compress(self.canonical, 1)


def canonical_json(snapshot: Snapshot) -> bytes:
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def schema_hash(snapshot: Snapshot) -> str:
    return hashlib.sha256(canonical_json(snapshot)).hexdigest()


def decompress(blob: bytes) -> Snapshot:
    return json.loads(zlib.decompress(blob))


def _name(schema: str, *parts: str) -> str:
    """Readable object names: the public schema is left implicit ('items.price', 'audit.log.at')."""
    return ".".join(parts) if schema == "public" else ".".join((schema, *parts))


def _put(snap: Snapshot, kind: str, name: str, **attrs: Any) -> dict[str, Any]:
    """Attributes that are set (psycopg reads arrays as lists, so the entry is what its JSON decodes to)."""
    entry = {k: v for k, v in attrs.items() if v is not None and v != []}
    snap.setdefault(kind, {})[name] = entry
    return entry


def take(conn: Any, own_schema: str = "public", own_patterns: tuple[str, ...] = ("sqlmig\\_%",)) -> Fingerprint:
    """Read the schema of the connection's database.

    `own_schema`/`own_patterns` name sqlmig's own relations (LIKE patterns) to leave out;
    a dedicated history schema other than public is left out as a schema object too.
    Runs read-only catalog queries; safe on a live database.
    """
    version = conn.info.server_version  # libpq's: server_version_num, without a round trip
    params = {"own_schema": own_schema, "own_patterns": list(own_patterns),
              "own_schema_hidden": own_schema if own_schema != "public" else ""}  # fmt: skip
    functions = FUNCTIONS.format(body=_BODY_14 if version >= 140000 else "p.prosrc")
    queries = (SCHEMAS, RELATIONS, COLUMNS, CONSTRAINTS, INDEXES, TRIGGERS, POLICIES, RULES, functions, TYPES,
               EXTENSIONS, STATISTICS)  # fmt: skip
    snap: Snapshot = {}
    # Every query goes out at once: one round trip, not a dozen. Not prepared: what a repeated read
    # would save in planning (~3 ms) is not worth a prepared statement that a migration's DEALLOCATE
    # ALL, streamed past psycopg by the runner, could pull from under the read after the run.
    with pipeline(conn):
        results = iter([conn.execute(q, params, prepare=False) for q in queries])

        def rows() -> list[tuple]:
            return next(results).fetchall()

        for nsp, owner, grants, comment in rows():
            _put(snap, "schema", nsp, owner=owner, grants=grants, comment=comment)
        tables = _read_relations(snap, rows())
        composite = _read_columns(snap, tables, rows())
        for nsp, rel, con, definition, comment in rows():
            _put(snap, "constraint", _name(nsp, rel, con), definition=definition, comment=comment)
        for nsp, idx, definition, valid, clustered, comment in rows():
            _put(snap, "index", _name(nsp, idx), definition=definition, invalid=None if valid else True,
                 clustered=clustered or None, comment=comment)  # fmt: skip
        for nsp, rel, name, definition, enabled, comment in rows():
            _put(snap, "trigger", _name(nsp, rel, name), definition=definition, state=_TRIGGER_STATE.get(enabled),
                 comment=comment)  # fmt: skip
        for nsp, rel, name, cmd, permissive, roles, using, check in rows():
            _put(snap, "policy", _name(nsp, rel, name), command=_POLCMD[cmd], permissive=permissive, roles=roles,
                 using=using, with_check=check)  # fmt: skip
        for nsp, rel, name, definition in rows():
            _put(snap, "rule", _name(nsp, rel, name), definition=definition)
        _read_functions(snap, rows())
        _read_types(snap, rows(), composite)
        for name, ext_version, nsp in rows():
            _put(snap, "extension", name, version=ext_version, schema=nsp)
        for nsp, name, definition in rows():
            _put(snap, "statistics", _name(nsp, name), definition=definition)
    return Fingerprint(snap, version)


def pipeline(conn: Any) -> Any:
    """Pipeline mode (libpq 14+, which psycopg[binary] bundles); plain round trips otherwise."""
    from psycopg import Pipeline

    return conn.pipeline() if Pipeline.is_supported() else nullcontext()


def _read_relations(snap: Snapshot, rows: list[tuple]) -> dict[tuple[str, str], dict]:
    tables: dict[tuple[str, str], dict] = {}
    for (nsp, rel, kind, persistence, rls, force_rls, partkey, parent, bound, options, owner, grants, comment,
         viewdef, am, seqtype, incr, smin, smax, start, cache, cycle, owned_by) in rows:  # fmt: skip
        common = {"owner": owner, "grants": grants, "comment": comment, "options": options}
        name = _name(nsp, rel)
        if kind in ("v", "m"):
            _put(snap, _RELKINDS[kind], name, definition=viewdef, **common)
        elif kind == "S":
            _put(snap, "sequence", name, type=seqtype, increment=incr, min=smin, max=smax, start=start,
                 cache=cache, cycle=cycle or None, owned_by=owned_by, **common)  # fmt: skip
        else:
            tables[(nsp, rel)] = _put(
                snap, _RELKINDS[kind], name, unlogged=True if persistence == "u" else None,
                partitioned_by=partkey, partition_of=parent, partition_bound=bound,
                row_level_security=rls or None, force_row_level_security=force_rls or None,
                access_method=am, **common,
            )  # fmt: skip
    return tables


def _read_columns(snap: Snapshot, tables: dict[tuple[str, str], dict], rows: list[tuple]) -> dict[str, list[str]]:
    """Columns into `snap` (and each table's column order); returns composite types' attributes."""
    composite: dict[str, list[str]] = {}
    for nsp, rel, relkind, col, coltype, default, notnull, identity, generated, collation, comment, grants in rows:
        if relkind == "c":
            composite.setdefault(_name(nsp, rel), []).append(
                f"{col} {coltype}" + (f" COLLATE {collation}" if collation else "")
            )
            continue
        table = tables.get((nsp, rel))
        if table is None:
            continue
        table.setdefault("columns", []).append(col)
        _put(snap, "column", _name(nsp, rel, col), type=coltype, default=default, not_null=notnull or None,
             identity=_IDENTITY.get(identity), generated=_generated(generated),
             collation=collation, comment=comment, grants=grants)  # fmt: skip
    return composite


def _generated(value: str | None) -> str | None:
    if not value:
        return None
    kind, _, expr = value.partition(" ")
    return f"{'stored' if kind == 's' else 'virtual'} {expr}"


def _read_functions(snap: Snapshot, rows: list[tuple]) -> None:
    for (nsp, name, ident, kind, args, result, lang, volatile, strict, secdef, parallel, leakproof, config,
         body, owner, grants, comment) in rows:  # fmt: skip
        _put(snap, _PROKINDS[kind], f"{_name(nsp, name)}({ident})", arguments=args if args != ident else None,
             returns=result, language=lang, volatility=_VOLATILITY[volatile] if kind != "p" else None,
             strict=strict or None, security_definer=secdef or None,
             parallel=_PARALLEL[parallel] if kind != "p" and parallel != "u" else None,
             leakproof=leakproof or None, config=config, body=body, owner=owner, grants=grants,
             comment=comment)  # fmt: skip


def _read_types(snap: Snapshot, rows: list[tuple], composite: dict[str, list[str]]) -> None:
    for (nsp, name, typtype, labels, base, notnull, default, checks, subtype, owner, grants,
         comment) in rows:  # fmt: skip
        full = _name(nsp, name)
        _put(snap, _TYPTYPES[typtype], full, values=labels, attributes=composite.get(full), base_type=base,
             not_null=notnull, default=default, constraints=checks, subtype=subtype, owner=owner, grants=grants,
             comment=comment)  # fmt: skip
