"""Batched data migrations on a real server: ranges, keys, lock back-off, capture/restore, finalize, plan."""

from __future__ import annotations

import json
import threading

import psycopg
import pytest

import sqlmig
from sqlmig import events as ev
from sqlmig.errors import BatchPaused, DriftError, ProjectError, RefusedError


def _settings(project, database_url, **flags):
    return project.settings(database_url, retry_backoff=0.2, **flags)


def _apply(project, database_url, **flags):
    seen: list[ev.Event] = []
    sqlmig.apply(_settings(project, database_url, **flags), yes=True, sink=seen.append)
    return seen


def _counter_table(db, rows: int, key_sql: str = "id bigint PRIMARY KEY", key_expr: str = "g") -> None:
    db.execute(f"CREATE TABLE items ({key_sql}, n integer NOT NULL DEFAULT 0)")
    db.execute(f"INSERT INTO items SELECT {key_expr}, g FROM generate_series(1, {rows}) g")


def _assert_each_row_bumped_once(db, rows: int) -> None:
    wrong = db.execute("SELECT count(*) FROM items WHERE n <> orig + 1").fetchone()[0]
    assert wrong == 0
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] == rows


BUMP = "UPDATE items SET n = n + 1 WHERE id BETWEEN :batch_start AND :batch_end;"


def test_backfill_runs_in_ranges_and_records_history(project, database_url, db):
    _counter_table(db, 5000)
    db.execute("ALTER TABLE items ADD COLUMN orig integer; UPDATE items SET orig = n")
    project.add(
        "00001_bump",
        BUMP,
        "SELECT 1;",
        {"phase": "migrate", "batch": {"table": "items", "size": 300, "target_ms": 1000, "max_size": 300}},
    )
    seen = _apply(project, database_url)
    _assert_each_row_bumped_once(db, 5000)
    done = [e for e in seen if isinstance(e, ev.BatchDone)]
    assert len(done) == 17  # 16 full ranges of 300 and a tail of 200
    assert done[0].start_key == ["1"] and done[0].end_key == ["300"]
    assert [d.keys for d in done][-1] == 200
    summary = next(e for e in seen if isinstance(e, ev.BatchSummary))
    assert (summary.rows_touched, summary.batches, summary.stopped) == (5000, 17, None)
    row = db.execute("SELECT status, transaction_mode FROM sqlmig_history WHERE version = '00001'").fetchone()
    assert row == ("applied", "batch")


@pytest.mark.parametrize(
    ("key_sql", "key_expr", "key"),
    [
        ("id uuid PRIMARY KEY", "md5(g::text)::uuid", None),
        ("id text PRIMARY KEY", "(ARRAY['a','B','é','Z', 'a b'])[1 + g % 5] || g", None),
        ("id text NOT NULL, part integer NOT NULL, PRIMARY KEY (part, id)", "g::text, g % 7", ["part", "id"]),
    ],
    ids=["uuid", "text", "composite"],
)
def test_uuid_text_and_composite_keys_resume_after_max_rows(project, database_url, db, key_sql, key_expr, key):
    cols = "id, part" if key else "id"
    db.execute(f"CREATE TABLE items ({key_sql}, n integer NOT NULL DEFAULT 0, orig integer)")
    db.execute(f"INSERT INTO items ({cols}, orig) SELECT {key_expr}, g FROM generate_series(1, 3000) g")
    db.execute("UPDATE items SET n = orig")
    where = "(part, id) BETWEEN :batch_start AND :batch_end" if key else "id BETWEEN :batch_start AND :batch_end"
    batch = {"table": "items", "size": 250, "max_size": 250, "max_rows": 1000}
    if key:
        batch["key"] = key
    project.add(
        "00001_bump", f"UPDATE items SET n = n + 1 WHERE {where};", "SELECT 1;", {"phase": "migrate", "batch": batch}
    )
    with pytest.raises(BatchPaused):
        _apply(project, database_url)
    assert db.execute("SELECT count(*) FROM items WHERE n = orig + 1").fetchone()[0] == 1000
    status = {r.version: r for r in sqlmig.status(_settings(project, database_url))}
    assert status["00001"].status == "running"
    assert 30 <= status["00001"].progress <= 35
    for _ in range(3):
        try:
            _apply(project, database_url)
            break
        except BatchPaused:
            continue
    _assert_each_row_bumped_once(db, 3000)
    assert db.execute("SELECT status FROM sqlmig_history").fetchone()[0] == "applied"


def test_lock_held_by_another_session_backs_off_and_finishes_after_release(project, database_url, db):
    _counter_table(db, 2000)
    db.execute("ALTER TABLE items ADD COLUMN orig integer; UPDATE items SET orig = n")
    project.add("00001_bump", BUMP, "SELECT 1;", {
        "phase": "migrate", "lock_timeout": "100ms", "retries": 10,
        "batch": {"table": "items", "size": 400, "min_size": 50, "target_ms": 5000},
    })  # fmt: skip
    holder = psycopg.connect(database_url)
    holder.execute("SELECT * FROM items WHERE id = 1500 FOR UPDATE")  # a row lock, held in an open transaction
    releaser = threading.Timer(1.5, holder.rollback)
    releaser.start()
    try:
        seen = _apply(project, database_url)
    finally:
        releaser.join()
        holder.close()
    retries = [e for e in seen if isinstance(e, ev.BatchRetry)]
    assert retries and all(r.sqlstate == "55P03" for r in retries)
    shrunk = [e for e in seen if isinstance(e, ev.BatchResized) and "lock timeout" in e.reason]
    assert shrunk and shrunk[0].new_size == shrunk[0].old_size // 4
    _assert_each_row_bumped_once(db, 2000)
    summary = next(e for e in seen if isinstance(e, ev.BatchSummary))
    assert summary.retries == len(retries) and summary.stopped is None


CAPTURED = """
CREATE TABLE items (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    label text,
    price numeric(12, 4),
    doc jsonb,
    seen_at timestamptz,
    blob bytea,
    tags text[],
    label_len integer GENERATED ALWAYS AS (length(label)) STORED
);
INSERT INTO items (label, price, doc, seen_at, blob, tags)
SELECT CASE WHEN g % 11 = 0 THEN NULL ELSE 'naïve ' || g || E'\\ttab' END, g / 7.0,
       jsonb_build_object('g', g, 'nested', jsonb_build_array(g, 'x')),
       timestamptz '2024-02-29 12:34:56.789012+00' + g * interval '1 minute',
       decode(md5(g::text), 'hex'), ARRAY['a', g::text, NULL]
FROM generate_series(1, 4000) g;
"""


def _snapshot(db) -> list[str]:
    return [r[0] for r in db.execute("SELECT t::text FROM items t ORDER BY id").fetchall()]


def test_capture_and_restore_round_trip_byte_identical_rows(project, database_url, db):
    db.execute(CAPTURED)
    before = _snapshot(db)
    up = ("UPDATE items SET label = upper(label), price = price * 2, doc = doc || '{\"patched\": true}'\n"
          "WHERE id % 3 = 0 AND id BETWEEN :batch_start AND :batch_end;\n"
          "DELETE FROM items WHERE id % 10 = 1 AND id BETWEEN :batch_start AND :batch_end;\n")  # fmt: skip
    project.add(
        "00001_patch",
        up,
        "-- sqlmig:restore-captured\n",
        {"phase": "migrate", "batch": {"table": "items", "size": 500, "capture": True}},
    )
    _apply(project, database_url)
    after = _snapshot(db)
    assert len(after) == 3600 and after != before
    captured = db.execute("SELECT count(*) FROM sqlmig_history_capture_00001_patch").fetchone()[0]
    assert captured == 1333 + 400  # every row touched, none that was not
    seen: list[ev.Event] = []
    sqlmig.rollback(_settings(project, database_url), yes=True, sink=seen.append)
    assert _snapshot(db) == before
    restored = next(e for e in seen if isinstance(e, ev.RestoreDone))
    assert (restored.updated, restored.inserted) == (1333 - 133, 400)  # 133 rows were updated, then deleted
    assert db.execute("SELECT to_regclass('sqlmig_history_capture_00001_patch')").fetchone()[0] is None


def test_finalize_drops_captured_rows_and_rollback_then_refuses(project, database_url, db, cli):
    db.execute(CAPTURED)
    project.add(
        "00001_patch",
        "UPDATE items SET price = 0 WHERE id BETWEEN :batch_start AND :batch_end;",
        "-- sqlmig:restore-captured\n",
        {"phase": "migrate", "batch": {"table": "items", "capture": True}},
    )
    _apply(project, database_url)
    res = cli("finalize", "00001", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr
    assert "dropped public.sqlmig_history_capture_00001_patch" in res.stdout
    assert db.execute("SELECT to_regclass('sqlmig_history_capture_00001_patch')").fetchone()[0] is None
    with pytest.raises(RefusedError, match="its captured rows were finalized"):
        sqlmig.rollback(_settings(project, database_url), yes=True)
    assert db.execute("SELECT count(*) FROM items WHERE price = 0").fetchone()[0] == 4000
    res = cli("finalize", "00002", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 2 and "no migration has version 00002" in res.stderr


def test_plan_shows_the_exact_sql_of_a_range_and_a_rewrite(project, database_url, db, cli):
    _counter_table(db, 10)
    project.add(
        "00001_bump",
        "UPDATE items SET n = n + 1 -- 50% more\nWHERE id BETWEEN :batch_start AND :batch_end;",
        "SELECT 1;",
        {"phase": "migrate", "batch": {"table": "items"}},
    )
    project.add(
        "00002_trim",
        "DELETE FROM items WHERE n > 100;",
        "SELECT 1;",
        {"phase": "migrate", "batch": {"table": "items", "key": "id"}},
    )
    res = cli("plan", "--format", "json", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr
    steps = json.loads(res.stdout)["steps"]
    first, second = (s["batch"]["statements"][0] for s in steps)
    assert first["sql"] == "UPDATE items SET n = n + 1 -- 50% more\nWHERE id BETWEEN $1 AND $2"
    assert not first["rewritten"] and steps[0]["transaction"] == "batch"
    assert second["sql"] == 'DELETE FROM items WHERE n > 100 AND "id" BETWEEN $1 AND $2' and second["rewritten"]
    res = cli("plan", "--database-url", database_url, "--project", str(project.root))
    assert "rewritten by sqlmig (sqlglot added the range predicate)" in res.stdout
    assert "$1 = batch_start: the first items(id) key of the range" in res.stdout
    _apply(project, database_url)  # and the rewritten statement runs as shown
    assert db.execute("SELECT sum(n) FROM items").fetchone()[0] == sum(range(1, 11)) + 10


@pytest.mark.parametrize(
    ("up", "batch", "message"),
    [
        ("ALTER TABLE items ADD COLUMN x int;", {"table": "items"}, "holds only data changes"),
        ("UPDATE items SET n = 1;", {"table": "items"}, "names no batch key"),
        ("UPDATE items SET n = 1 WHERE id > :batch_start;", {"table": "items"}, "not :batch_end"),
        (
            "INSERT INTO other SELECT * FROM items WHERE id BETWEEN :batch_start AND :batch_end;",
            {"table": "items", "capture": True},
            "capture: true restores rows",
        ),
    ],
    ids=["ddl", "no-placeholders-no-key", "one-placeholder", "capture-insert"],
)
def test_unboundable_statements_are_refused_before_anything_runs(project, database_url, db, up, batch, message):
    _counter_table(db, 10)
    project.add("00001_bad", up, "SELECT 1;", {"phase": "migrate", "batch": batch})
    with pytest.raises(ProjectError, match=message):
        _apply(project, database_url)
    assert db.execute("SELECT to_regclass('sqlmig_history_checkpoints')").fetchone()[0] is None


@pytest.mark.parametrize(
    ("table_sql", "batch", "message"),
    [
        ("CREATE TABLE items (id int, n int)", {"table": "nope"}, "does not exist"),
        ("CREATE TABLE items (id int, n int)", {"table": "items"}, "has no primary key"),
        ("CREATE TABLE items (id int, n int)", {"table": "items", "key": "id"}, "allows NULL"),
        ("CREATE TABLE items (id int NOT NULL, n int)", {"table": "items", "key": "id"}, "no btree index"),
    ],
    ids=["missing-table", "no-pk", "nullable-key", "unindexed-key"],
)
def test_unpageable_tables_are_refused(project, database_url, db, table_sql, batch, message):
    db.execute(table_sql)
    project.add(
        "00001_bad",
        "UPDATE items SET n = 1 WHERE id BETWEEN :batch_start AND :batch_end;",
        "SELECT 1;",
        {"phase": "migrate", "batch": batch},
    )
    with pytest.raises(ProjectError, match=message):
        _apply(project, database_url)


def test_editing_a_partly_run_statement_stops_the_resume(project, database_url, db):
    _counter_table(db, 1000)
    project.add(
        "00001_bump",
        BUMP,
        "SELECT 1;",
        {"phase": "migrate", "batch": {"table": "items", "size": 100, "max_size": 100, "max_rows": 300}},
    )
    with pytest.raises(BatchPaused):
        _apply(project, database_url)
    project.add(
        "00001_bump",
        BUMP.replace("n + 1", "n + 2"),
        "SELECT 1;",
        {"phase": "migrate", "batch": {"table": "items", "size": 100, "max_size": 100, "max_rows": 300}},
    )
    with pytest.raises(DriftError, match="edited after some of its ranges committed"):
        _apply(project, database_url)
    assert db.execute("SELECT count(*) FROM items WHERE n = id + 1").fetchone()[0] == 300


def test_apply_phase_migrate_runs_the_backfill_alone(project, database_url, db, cli):
    project.add(
        "00001_items",
        "CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL);\n"
        "INSERT INTO items SELECT g, 0 FROM generate_series(1, 1000) g;",
        "DROP TABLE items;",
    )
    project.add("00002_bump", BUMP, "SELECT 1;", {"phase": "migrate", "batch": {"table": "items", "size": 100}})
    project.add(
        "00003_contract",
        "ALTER TABLE items DROP COLUMN n;",
        None,
        {"phase": "contract", "point_of_no_return": "drops items.n"},
    )
    args = ("--database-url", database_url, "--project", str(project.root))
    assert cli("apply", "--phase", "expand", *args).returncode == 0
    res = cli("apply", "--phase", "migrate", "--format", "json", *args)
    assert res.returncode == 0, res.stderr
    kinds = [json.loads(line)["event"] for line in res.stdout.splitlines()]
    assert "batch_done" in kinds and "batch_summary" in kinds
    assert db.execute("SELECT count(*) FROM items WHERE n = 1").fetchone()[0] == 1000
    status = json.loads(cli("status", "--format", "json", *args).stdout)
    assert [s["status"] for s in status] == ["applied", "applied", "pending"]


def test_range_placeholders_outside_a_batched_migration_are_refused(project, database_url, db):
    _counter_table(db, 10)
    project.add("00001_plain", BUMP, "SELECT 1;", {"phase": "migrate"})
    with pytest.raises(ProjectError, match="not batched") as info:
        _apply(project, database_url)
    assert info.value.where == "migrations/00001_plain.sql:1"
    assert db.execute("SELECT sum(n) FROM items").fetchone()[0] == sum(range(1, 11))
