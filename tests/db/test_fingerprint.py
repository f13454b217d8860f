"""The schema fingerprint: complete, stable across runs and databases, independent of creation order."""

from __future__ import annotations

import shutil

import psycopg
import pytest

from sqlmig import fingerprint, schemadiff
from tests.conftest import REPO

RICH = (REPO / "tests" / "db" / "data" / "rich_schema.sql").read_text()


@pytest.fixture
def two_databases(pg_server):
    names = [pg_server.create_database(), pg_server.create_database()]
    yield [pg_server.url_for(n) for n in names]
    for n in names:
        pg_server.drop_database(n)


def _take(url: str) -> fingerprint.Fingerprint:
    with psycopg.connect(url, autocommit=True) as conn:
        return fingerprint.take(conn)


def _run(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def test_every_kind_of_object_is_read(database_url):
    _run(database_url, RICH)
    snap = _take(database_url).snapshot
    assert snap["enum"]["mood"] == {"values": ["sad", "ok", "happy"]}
    assert snap["domain"]["positive_int"]["constraints"] == ["positive: CHECK ((VALUE > 0))"]
    assert snap["composite type"]["money_amount"]["attributes"] == ["amount numeric(12,2)", "currency character(3)"]
    assert snap["column"]["items.price"] == {"type": "numeric(10,2)", "default": "0", "comment": "in euros",
                                             "grants": ["grant UPDATE to PUBLIC"]}  # fmt: skip
    assert snap["column"]["items.name"]["collation"] == "C"
    assert snap["column"]["items.total"]["generated"] == "stored (price * (2)::numeric)"
    assert snap["column"]["items.id"]["identity"] == "by default"
    assert snap["table"]["orders"]["partitioned_by"] == "RANGE (placed)"
    assert snap["table"]["orders_2025"]["partition_of"] == "public.orders"
    assert snap["table"]["scratch"]["unlogged"] is True
    assert snap["table"]["audit.log"]["row_level_security"] is True
    assert snap["table"]["items"]["grants"] == ["grant SELECT to PUBLIC"]
    assert snap["constraint"]["items.items_name_len"]["definition"].endswith("NOT VALID")
    assert "DEFERRABLE INITIALLY DEFERRED" in snap["constraint"]["orders.orders_item_id_fkey"]["definition"]
    assert snap["index"]["items_sku_idx"]["definition"].startswith("CREATE UNIQUE INDEX items_sku_idx")
    assert snap["policy"]["audit.log.log_read"]["command"] == "SELECT"
    assert snap["trigger"]["items.items_touch"]["state"] == "disabled"
    assert snap["function"]["add_one(x integer, y integer)"]["grants"] == ["revoke EXECUTE from PUBLIC"]
    assert snap["procedure"]["archive(IN days integer)"]["body"].startswith("BEGIN ATOMIC")
    assert snap["sequence"]["order_no"]["increment"] == 10 and snap["sequence"]["order_no"]["cycle"] is True
    assert "citext" in snap["extension"] and "item_counts" in snap["materialized view"]
    assert "cheap_items" in snap["view"] and "scratch.scratch_no_delete" in snap["rule"]
    assert "items_stats" in snap["statistics"] and snap["schema"]["audit"] == {"comment": "audit trail"}
    # extension members (citext's functions) and a range's multirange constructors are not the project's
    assert not [f for f in snap["function"] if "citext" in f or "multirange" in f]


def test_same_schema_same_hash_whatever_the_creation_order(two_databases):
    first, second = two_databases
    _run(first, "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int REFERENCES a); "
                "CREATE INDEX b_id ON b (id); CREATE TYPE e AS ENUM ('x', 'y');")  # fmt: skip
    _run(second, "CREATE TYPE e AS ENUM ('x'); CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int); "
                 "ALTER TYPE e ADD VALUE 'y'; ALTER TABLE b ADD FOREIGN KEY (id) REFERENCES a; "
                 "CREATE INDEX b_id ON b (id);")  # fmt: skip
    one, two = _take(first), _take(second)
    assert one.hash == two.hash == _take(first).hash
    assert schemadiff.compare(one.snapshot, two.snapshot) == []


def test_example_project_fingerprint_is_identical_on_two_fresh_databases(two_databases, tmp_path, cli):
    for sub in ("migrations", "rollback", "manifests"):
        shutil.copytree(REPO / sub, tmp_path / sub)
    for url in two_databases:
        res = cli("apply", "--yes", "--database-url", url, "--project", str(tmp_path))
        assert res.returncode == 0, res.stderr
    one, two = (_take(url) for url in two_databases)
    assert one.hash == two.hash
    assert {"products", "warehouses", "stock_levels", "stock_movements"} <= set(one.snapshot["table"])


def test_sequence_values_and_data_are_not_part_of_the_schema(database_url):
    _run(database_url, "CREATE TABLE t (id serial PRIMARY KEY, v text)")
    before = _take(database_url)
    _run(database_url, "INSERT INTO t (v) SELECT 'x' FROM generate_series(1, 50); ANALYZE t")
    assert _take(database_url).hash == before.hash


def test_readable_diff_lines(database_url):
    _run(database_url, "CREATE TABLE items (id int, price numeric DEFAULT 0); CREATE INDEX items_sku_idx ON "
                       "items (id); CREATE TYPE mood AS ENUM ('sad'); COMMENT ON TABLE items IS 'stock'")  # fmt: skip
    before = _take(database_url)
    _run(database_url, "ALTER TABLE items ALTER COLUMN price SET DEFAULT 5; DROP INDEX items_sku_idx; "
                       "ALTER TYPE mood ADD VALUE 'happy'; ALTER TABLE items ALTER COLUMN price SET NOT NULL; "
                       "COMMENT ON TABLE items IS NULL; ALTER TABLE items ADD COLUMN note varchar(3)")  # fmt: skip
    lines = [c.message for c in schemadiff.compare(before.snapshot, _take(database_url).snapshot)]
    assert lines == [
        "enum mood: value 'happy' added",
        "table items: comment 'stock' → (none)",
        "column items.note: added (character varying(3))",
        "column items.price: default 0 → 5",
        "column items.price: not null no → yes",
        "index items_sku_idx: missing",
    ]


def test_own_tables_are_left_out_by_pattern(database_url):
    _run(database_url, "CREATE TABLE sqlmig_history (v text PRIMARY KEY); CREATE TABLE sqlmig_history_x (v text);"
                       "CREATE TABLE sqlmig_historyish (v text); CREATE TABLE app (v text)")  # fmt: skip
    from sqlmig.history import History

    with psycopg.connect(database_url) as conn:
        snap = fingerprint.take(conn, "public", History.own_patterns("sqlmig_history")).snapshot
    assert set(snap["table"]) == {"sqlmig_historyish", "app"}  # `_` in the name is not a LIKE wildcard
    assert "sqlmig_history_pkey" not in snap.get("index", {})


def test_compressed_snapshot_round_trips(database_url):
    _run(database_url, RICH)
    fp = _take(database_url)
    assert fingerprint.decompress(fp.compress()) == fp.snapshot
    assert len(fp.compress()) < len(fingerprint.canonical_json(fp.snapshot)) / 2
