"""sqlmig.postgres: the lock table, type-change and default rules, and transaction-block refusals."""

from __future__ import annotations

import pytest

from sqlmig import postgres
from sqlmig.sql import split_statements


def one(sql: str):
    (stmt,) = split_statements(sql)
    return stmt


def effects(sql: str, **kw) -> dict[str, tuple[str, bool, bool]]:
    return {e.table: (e.mode, e.rewrite, e.scan) for e in postgres.lock_effects(one(sql), **kw)}


AE, SRE, S, SUE, E, RE = (
    "ACCESS EXCLUSIVE",
    "SHARE ROW EXCLUSIVE",
    "SHARE",
    "SHARE UPDATE EXCLUSIVE",
    "EXCLUSIVE",
    ("ROW EXCLUSIVE"),
)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("ALTER TABLE t ADD COLUMN c text", {"t": (AE, False, False)}),
        ("ALTER TABLE t ADD COLUMN c boolean NOT NULL DEFAULT false", {"t": (AE, False, False)}),
        ("ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now()", {"t": (AE, False, False)}),
        ("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid()", {"t": (AE, True, True)}),
        ("ALTER TABLE t ADD COLUMN c bigserial", {"t": (AE, True, True)}),
        ("ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS IDENTITY", {"t": (AE, True, True)}),
        ("ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS (a * 2) STORED", {"t": (AE, True, True)}),
        ("ALTER TABLE t ADD COLUMN c int CHECK (c > 0)", {"t": (AE, False, True)}),
        ("ALTER TABLE t ADD COLUMN c int UNIQUE", {"t": (AE, False, True)}),
        ("ALTER TABLE t ADD COLUMN r_id int REFERENCES r (id)", {"t": (AE, False, False), "r": (SRE, False, False)}),
        ("ALTER TABLE t ALTER COLUMN c SET NOT NULL", {"t": (AE, False, True)}),
        ("ALTER TABLE t ALTER COLUMN c DROP NOT NULL", {"t": (AE, False, False)}),
        ("ALTER TABLE t ALTER COLUMN c SET STATISTICS 500", {"t": (SUE, False, False)}),
        ("ALTER TABLE t ADD CONSTRAINT k CHECK (c > 0)", {"t": (AE, False, True)}),
        ("ALTER TABLE t ADD CONSTRAINT k CHECK (c > 0) NOT VALID", {"t": (AE, False, False)}),
        ("ALTER TABLE t VALIDATE CONSTRAINT k", {"t": (SUE, False, True)}),
        ("ALTER TABLE t ADD FOREIGN KEY (r_id) REFERENCES r (id)", {"t": (SRE, False, True), "r": (SRE, False, True)}),
        (
            "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (r_id) REFERENCES r NOT VALID",
            {"t": (SRE, False, False), "r": (SRE, False, False)},
        ),
        ("ALTER TABLE t ADD CONSTRAINT u UNIQUE (c)", {"t": (AE, False, True)}),
        ("ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX t_c_idx", {"t": (AE, False, False)}),
        ("ALTER TABLE t ADD CONSTRAINT x EXCLUDE USING gist (p WITH &&)", {"t": (AE, False, True)}),
        ("ALTER TABLE t SET LOGGED", {"t": (AE, True, True)}),
        ("ALTER TABLE t SET (fillfactor = 70)", {"t": (SUE, False, False)}),
        ("ALTER TABLE t DISABLE TRIGGER trg", {"t": (SRE, False, False)}),
        ("ALTER TABLE t ENABLE ROW LEVEL SECURITY", {"t": (AE, False, False)}),
        ("ALTER TABLE p ATTACH PARTITION p1 FOR VALUES IN (1)", {"p": (SUE, False, False), "p1": (AE, False, True)}),
        ("ALTER TABLE p DETACH PARTITION p1", {"p": (AE, False, False), "p1": (AE, False, False)}),
        ("CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1)", {"p": (AE, False, False)}),
        ("CREATE TABLE n (id int, r_id int REFERENCES r)", {"r": (SRE, False, False)}),
        ("CREATE INDEX i ON t (c)", {"t": (S, False, True)}),
        ("CREATE INDEX i ON ONLY t (c)", {"t": (S, False, False)}),
        ("CREATE INDEX CONCURRENTLY i ON t (c)", {"t": (SUE, False, True)}),
        ("DROP INDEX i", {"i": (AE, False, False)}),
        ("DROP INDEX CONCURRENTLY i", {"i": (SUE, False, False)}),
        ("REINDEX TABLE t", {"t": (S, False, True)}),
        ("REINDEX TABLE CONCURRENTLY t", {"t": (SUE, False, True)}),
        ("CLUSTER t USING i", {"t": (AE, True, True)}),
        ("VACUUM FULL t", {"t": (AE, True, True)}),
        ("ANALYZE t", {"t": (SUE, False, False)}),
        ("TRUNCATE a, b", {"a": (AE, False, False), "b": (AE, False, False)}),
        ("CREATE TRIGGER g AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", {"t": (SRE, False, False)}),
        ("DROP TRIGGER g ON t", {"t": (AE, False, False)}),
        ("CREATE POLICY p ON t USING (true)", {"t": (AE, False, False)}),
        ("COMMENT ON COLUMN t.c IS 'x'", {"t": (SUE, False, False)}),
        ("REFRESH MATERIALIZED VIEW mv", {"mv": (AE, True, True)}),
        ("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", {"mv": (E, False, True)}),
        ("ALTER SEQUENCE s RESTART WITH 10", {"s": (SRE, False, False)}),
        ("LOCK TABLE t IN SHARE MODE", {"t": (S, False, False)}),
        ("LOCK t", {"t": (AE, False, False)}),
        ("UPDATE t SET c = 1", {"t": (RE, False, True)}),
        ("UPDATE t SET c = 1 WHERE id < 100", {"t": (RE, False, False)}),
        ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", {}),
        ("ALTER TYPE mood ADD VALUE 'x'", {}),
    ],
)
def test_lock_table(sql: str, expected: dict) -> None:
    assert effects(sql) == expected


def test_alter_table_takes_the_strongest_lock_of_its_actions() -> None:
    got = effects("ALTER TABLE t SET (fillfactor = 70), ADD COLUMN c text")
    assert got == {"t": (AE, False, False)}
    (eff,) = postgres.lock_effects(one("ALTER TABLE t VALIDATE CONSTRAINT k, DISABLE TRIGGER g"))
    assert eff.mode == SRE and eff.scan and "VALIDATE CONSTRAINT k" in eff.why and eff.blocks == "writes"


def test_version_dependent_effects() -> None:
    assert effects("ALTER TABLE t ADD COLUMN c int DEFAULT 0", pg_version=10) == {"t": (AE, True, True)}
    assert effects("ALTER TABLE p ATTACH PARTITION p1 DEFAULT", pg_version=11)["p"][0] == AE
    assert effects("ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS (a * 2) VIRTUAL", pg_version=18) == {
        "t": (AE, False, False)
    }
    assert effects("GRANT SELECT ON t TO app", pg_version=15) == {}
    assert effects("GRANT SELECT ON t TO app", pg_version=18) == {"t": ("ACCESS SHARE", False, False)}


class KnownSchema(postgres.Facts):
    def column_type(self, table: str, column: str) -> str | None:
        return {"name": "varchar(50)", "n": "integer", "ts": "timestamp"}.get(column)

    def has_valid_not_null_check(self, table: str, column: str) -> bool:
        return column == "proven"

    def foreign_key_target(self, table: str, constraint: str) -> str | None:
        return "r" if constraint == "t_r_fkey" else None

    def column_has_check(self, table: str, column: str) -> bool:
        return column == "name"


def test_facts_refine_the_effects() -> None:
    facts = KnownSchema()
    assert effects("ALTER TABLE t ALTER COLUMN proven SET NOT NULL", facts=facts) == {"t": (AE, False, False)}
    assert effects("ALTER TABLE t ALTER COLUMN proven SET NOT NULL", facts=facts, pg_version=11)["t"][2] is True
    assert effects("ALTER TABLE t ALTER COLUMN n TYPE bigint", facts=facts) == {"t": (AE, True, True)}
    # widening varchar needs no rewrite, but a CHECK on the column is re-checked (a scan)
    assert effects("ALTER TABLE t ALTER COLUMN name TYPE varchar(80)", facts=facts) == {"t": (AE, False, True)}
    assert effects("ALTER TABLE t DROP CONSTRAINT t_r_fkey", facts=facts) == {"t": (AE, False, False),
                                                                               "r": (AE, False, False)}  # fmt: skip


def test_conflicts_and_blocks_follow_the_postgres_table() -> None:
    assert postgres.conflicts("SHARE", "ROW EXCLUSIVE")
    assert not postgres.conflicts("SHARE", "SHARE")
    assert postgres.conflicts("SHARE UPDATE EXCLUSIVE", "SHARE UPDATE EXCLUSIVE")
    assert not postgres.conflicts("ROW EXCLUSIVE", "ROW EXCLUSIVE")
    assert all(postgres.conflicts("ACCESS EXCLUSIVE", m) for m in postgres.LOCK_MODES)
    for a in postgres.LOCK_MODES:  # the table is symmetric
        for b in postgres.LOCK_MODES:
            assert postgres.conflicts(a, b) == postgres.conflicts(b, a)
    assert postgres.blocks("ACCESS EXCLUSIVE") == "reads and writes"
    assert postgres.blocks("EXCLUSIVE") == "writes and SELECT … FOR UPDATE"
    assert postgres.blocks("ROW EXCLUSIVE").startswith("only SHARE")
    assert postgres.lock_rank("ACCESS EXCLUSIVE") > postgres.lock_rank("SHARE") > postgres.lock_rank("ROW SHARE")


@pytest.mark.parametrize(
    ("old", "new", "using", "rewrites"),
    [
        ("varchar(10)", "varchar(50)", False, False),
        ("character varying(10)", "text", False, False),
        ("text", "varchar", False, False),
        ("text", "varchar(20)", False, True),
        ("varchar(50)", "varchar(10)", False, True),
        ("numeric(10,2)", "numeric(12,2)", False, False),
        ("numeric(10,2)", "numeric(12,4)", False, True),
        ("numeric(10,2)", "numeric", False, False),
        ("int", "bigint", False, True),
        ("int4", "integer", False, False),
        ("integer", "integer", True, True),
        ("json", "jsonb", False, True),
        ("timestamp", "timestamptz", False, None),
        ("cidr", "inet", False, False),
        ("int[]", "bigint[]", False, True),
        ("timestamp(3)", "timestamp(6)", False, False),
        (None, "text", False, None),
    ],
)
def test_type_change_rewrites(old, new, using, rewrites) -> None:
    assert postgres.type_change_rewrites(old, new, using=using) is rewrites


def test_parse_type() -> None:
    assert str(postgres.parse_type("character varying(10)")) == "varchar(10)"
    assert str(postgres.parse_type("timestamp(3) with time zone")) == "timestamptz(3)"
    assert str(postgres.parse_type("pg_catalog.int4[]")) == "integer[]"
    assert str(postgres.parse_type("numeric(12, 2)")) == "numeric(12,2)"


def test_default_volatility() -> None:
    assert postgres.default_volatility(("now",)) == ("stable", None)
    assert postgres.default_volatility(("lower", "to_timestamp")) == ("stable", None)
    assert postgres.default_volatility(("now", "random")) == ("volatile", "random")
    assert postgres.default_volatility(("my_func",)) == ("unknown", "my_func")


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("CREATE INDEX CONCURRENTLY i ON t (c)", True),
        ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c)", True),
        ("DROP INDEX CONCURRENTLY IF EXISTS i", True),
        ("REINDEX INDEX CONCURRENTLY i", True),  # sqlglot hands REINDEX's rest over as one string
        ("REINDEX (VERBOSE) TABLE CONCURRENTLY t", True),
        ("REINDEX SCHEMA public", True),
        ("REINDEX TABLE t", False),
        ("VACUUM (ANALYZE) t", True),
        ("ANALYZE t", False),
        ("CLUSTER", True),
        ("CLUSTER t USING i", False),
        ("CREATE DATABASE d", True),
        ("ALTER SYSTEM SET work_mem = '64MB'", True),
        ("ALTER DATABASE d SET TABLESPACE x", True),
        ("ALTER DATABASE d SET work_mem = '64MB'", False),
        ("ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY", True),
        ("ALTER TABLE p DETACH PARTITION p1", False),
        ("DISCARD ALL", True),
        ("COMMIT PREPARED 'x'", True),
        ("CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p", True),
        ("CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p WITH (connect = false)", False),
        ("CREATE INDEX i ON t (concurrently)", False),
        ("ALTER TYPE mood ADD VALUE 'x'", False),
    ],
)
def test_not_in_transaction_reason(sql: str, refused: bool) -> None:
    assert (postgres.not_in_transaction_reason(one(sql)) is not None) is refused


def test_add_value_refused_in_a_transaction_before_12() -> None:
    stmt = one("ALTER TYPE mood ADD VALUE 'x'")
    assert "before PostgreSQL 12" in postgres.not_in_transaction_reason(stmt, pg_version=11)
    assert postgres.not_in_transaction_reason(stmt, pg_version=12) is None


def test_statement_kind_and_transaction_control_still_work() -> None:
    assert postgres.statement_kind(one("CREATE UNIQUE INDEX i ON t (c)")) == "CREATE INDEX"
    assert postgres.statement_kind(one("CREATE MATERIALIZED VIEW v AS SELECT 1")) == "CREATE MATERIALIZED VIEW"
    assert postgres.is_transaction_control(one("BEGIN"))
    assert postgres.is_transaction_control(one("START TRANSACTION"))
    assert not postgres.is_transaction_control(one("COMMIT PREPARED 'x'"))
