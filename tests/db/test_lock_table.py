"""The lock table in sqlmig.postgres, held against a real PostgreSQL: the locks it grants and the rewrites it does.

Each statement runs inside BEGIN … ROLLBACK; the strongest granted lock per relation comes
from pg_locks and a rewrite shows as a new relfilenode (lint-rules.md, Appendix B).
"""

from __future__ import annotations

import re

import pytest

from sqlmig import postgres
from sqlmig.sql import split_statements

FIXTURE = """
CREATE TABLE r (id int PRIMARY KEY);
INSERT INTO r SELECT g FROM generate_series(1, 1000) g;
CREATE TABLE t (id int PRIMARY KEY, c int, name varchar(50), a int, r_id int);
INSERT INTO t SELECT g, g, 'n' || g, g, g FROM generate_series(1, 1000) g;
CREATE INDEX t_c_idx ON t (c);
ALTER TABLE t ADD CONSTRAINT t_r_fkey FOREIGN KEY (r_id) REFERENCES r (id);
ALTER TABLE t ADD CONSTRAINT t_a_check CHECK (a > 0);
CREATE TABLE p (id int, k int) PARTITION BY LIST (k);
CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);
CREATE TABLE p2 (id int, k int);
CREATE MATERIALIZED VIEW mv AS SELECT id, r_id FROM t;
CREATE UNIQUE INDEX mv_id ON mv (id);
CREATE SEQUENCE s;
"""

STATEMENTS = [
    "ALTER TABLE t ADD COLUMN x text",
    "ALTER TABLE t ADD COLUMN x boolean NOT NULL DEFAULT false",
    "ALTER TABLE t ADD COLUMN x timestamptz DEFAULT now()",
    "ALTER TABLE t ADD COLUMN x double precision DEFAULT random()",
    "ALTER TABLE t ADD COLUMN x bigserial",
    "ALTER TABLE t ADD COLUMN x int GENERATED ALWAYS AS (a * 2) STORED",
    "ALTER TABLE t ADD COLUMN x int REFERENCES r (id)",
    "ALTER TABLE t ALTER COLUMN c SET NOT NULL",
    "ALTER TABLE t ALTER COLUMN c SET STATISTICS 500",
    "ALTER TABLE t ALTER COLUMN c TYPE bigint",
    "ALTER TABLE t ALTER COLUMN name TYPE varchar(80)",
    "ALTER TABLE t ALTER COLUMN name TYPE text",
    "ALTER TABLE t ADD CONSTRAINT k CHECK (c > 0) NOT VALID",
    "ALTER TABLE t VALIDATE CONSTRAINT t_a_check",
    "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES r (id) NOT VALID",
    "ALTER TABLE t DROP CONSTRAINT t_r_fkey",
    "ALTER TABLE t SET (fillfactor = 70)",
    "ALTER TABLE t SET UNLOGGED",
    "ALTER TABLE t ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE p ATTACH PARTITION p2 FOR VALUES IN (2)",
    "ALTER TABLE p DETACH PARTITION p1",
    "CREATE TABLE p3 PARTITION OF p FOR VALUES IN (3)",
    "CREATE INDEX i ON t (a)",
    "DROP INDEX t_c_idx",
    "REINDEX TABLE t",
    "CLUSTER t USING t_pkey",
    "TRUNCATE t CASCADE",
    "CREATE TRIGGER g BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()",
    "CREATE POLICY pol ON t USING (true)",
    "COMMENT ON COLUMN t.c IS 'x'",
    "REFRESH MATERIALIZED VIEW mv",
    "REFRESH MATERIALIZED VIEW CONCURRENTLY mv",
    "ALTER SEQUENCE s RESTART WITH 10",
    "LOCK TABLE t IN SHARE MODE",
    "UPDATE t SET c = c + 1",
]

GRANTED = """
SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
   AND c.relnamespace = 'public'::regnamespace
"""
FILENODES = "SELECT relname, pg_relation_filenode(oid) FROM pg_class WHERE relnamespace = 'public'::regnamespace"


class Fixture(postgres.Facts):
    """What lint would know about FIXTURE from earlier migrations."""

    def column_type(self, table: str, column: str) -> str | None:
        return {"c": "int", "name": "varchar(50)", "a": "int"}.get(column) if table == "t" else None

    def index_table(self, index: str) -> str | None:
        return {"t_c_idx": "t"}.get(index)

    def foreign_key_target(self, table: str, constraint: str) -> str | None:
        return "r" if constraint == "t_r_fkey" else None

    def column_has_check(self, table: str, column: str) -> bool:
        return column == "a"


# These swap in new, empty files (a new relfilenode) without copying anything: not a rewrite.
NEW_FILES = ("TRUNCATE", "ALTER SEQUENCE")


@pytest.mark.parametrize("sql", STATEMENTS)
def test_lock_table_matches_the_server(db, sql: str) -> None:
    for stmt in split_statements(FIXTURE):
        db.execute(stmt.text)
    (stmt,) = split_statements(sql)
    version = db.info.server_version // 10000
    predicted = {e.table: e for e in postgres.lock_effects(stmt, pg_version=version, facts=Fixture())}
    before = dict(db.execute(FILENODES).fetchall())
    db.execute("BEGIN")
    try:
        db.execute("SET LOCAL TimeZone = 'UTC'")
        db.execute(stmt.text)
        strongest: dict[str, str] = {}
        for rel, mode in db.execute(GRANTED).fetchall():
            mode = re.sub(r"(?<!^)(?=[A-Z])", " ", mode.removesuffix("Lock")).upper()  # ShareRowExclusiveLock
            if postgres.lock_rank(mode) > postgres.lock_rank(strongest.get(rel, "")):
                strongest[rel] = mode
        after = dict(db.execute(FILENODES).fetchall())
    finally:
        db.execute("ROLLBACK")
    assert predicted, f"no lock predicted for {sql}"
    for table, eff in predicted.items():
        if sql.startswith("DROP") and table in sql:
            continue  # the dropped relation is gone from pg_class inside the transaction
        assert strongest.get(table) == eff.mode, f"{sql}: {table} locked {strongest.get(table)}, predicted {eff.mode}"
        if table in before and not sql.startswith(NEW_FILES):
            rewritten = after.get(table) != before[table]
            assert rewritten == eff.rewrite, f"{sql}: {table} rewritten {rewritten}, predicted {eff.rewrite}"
