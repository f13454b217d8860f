"""Restoring captured rows, as a user sees it: refused up front once finalized, reported with its row count and
real duration; a resumed batch's summary and history count every run."""

from __future__ import annotations

import json

import pytest

import sqlmig
from sqlmig import events as ev
from sqlmig.errors import BatchPaused

ITEMS = """
CREATE TABLE items (id bigint PRIMARY KEY, price numeric NOT NULL);
INSERT INTO items SELECT g, g FROM generate_series(1, {rows}) g;
"""
ZERO = "UPDATE items SET price = 0 WHERE id BETWEEN :batch_start AND :batch_end;"
CAPTURE = {"phase": "migrate", "batch": {"table": "items", "size": 1000, "max_size": 5000, "capture": True}}


def _flags(project, database_url):
    return ("--database-url", database_url, "--project", str(project.root))


def test_after_finalize_plan_and_rollback_both_refuse_before_anything_runs(project, database_url, db, cli):
    db.execute(ITEMS.format(rows=2000))
    project.add("00001_zero_prices", ZERO, "-- sqlmig:restore-captured\n", CAPTURE)
    project.add("00002_audit", "CREATE TABLE audit (id bigint);", "DROP TABLE audit;")
    assert cli("apply", "--yes", *_flags(project, database_url)).returncode == 0
    res = cli("plan", "--rollback", "--steps", "2", *_flags(project, database_url))
    assert res.returncode == 0 and "restores the rows captured" in res.stdout, res.stderr
    assert cli("finalize", "00001", *_flags(project, database_url)).returncode == 0

    plan = cli("plan", "--rollback", "--steps", "2", *_flags(project, database_url))
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "restores the rows captured" not in plan.stdout
    assert "captured rows were finalized" in plan.stderr and "sqlmig finalize 00001" in plan.stderr
    assert "cannot restore them" in plan.stderr

    rollback = cli("rollback", "--steps", "2", "--yes", *_flags(project, database_url))
    assert rollback.returncode == 2, rollback.stdout + rollback.stderr
    assert "captured rows were finalized" in rollback.stderr and "sqlmig finalize 00001" in rollback.stderr
    # refused before the first step: 00002 was not rolled back on the way to the refusal
    assert db.execute("SELECT to_regclass('audit')").fetchone()[0] == "audit"
    statuses = dict(db.execute("SELECT version, status FROM sqlmig_history").fetchall())
    assert statuses == {"00001": "applied", "00002": "applied"}
    assert db.execute("SELECT count(*) FROM items WHERE price = 0").fetchone()[0] == 2000


def test_capture_table_dropped_by_hand_is_refused_without_blaming_finalize(project, database_url, db, cli):
    db.execute(ITEMS.format(rows=10))
    project.add("00001_zero_prices", ZERO, "-- sqlmig:restore-captured\n", CAPTURE)
    assert cli("apply", "--yes", *_flags(project, database_url)).returncode == 0
    db.execute("DROP TABLE sqlmig_history_capture_00001_zero_prices")
    res = cli("plan", "--rollback", *_flags(project, database_url))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "public.sqlmig_history_capture_00001_zero_prices does not exist" in res.stderr
    assert "finalized" not in res.stderr


def test_restore_reports_rows_restored_and_the_time_it_took(project, database_url, db, cli):
    db.execute(ITEMS.format(rows=12000))  # three restore slices of 5000 captured rows
    project.add("00001_zero_prices", ZERO, "-- sqlmig:restore-captured\n", CAPTURE)
    assert cli("apply", "--yes", *_flags(project, database_url)).returncode == 0
    seen: list[ev.Event] = []
    sqlmig.rollback(project.settings(database_url), yes=True, sink=seen.append)
    started = next(e for e in seen if isinstance(e, ev.MigrationStarted))
    restored = next(e for e in seen if isinstance(e, ev.RestoreDone))
    done = next(e for e in seen if isinstance(e, ev.MigrationDone))
    assert started.restores_captured and started.statements == 0
    assert restored.rows == 12000 and (restored.updated, restored.inserted) == (12000, 0)
    assert done.duration_ms >= restored.duration_ms  # the rollback's time includes its restore
    assert db.execute("SELECT count(*) FROM items WHERE price = id").fetchone()[0] == 12000

    db.execute("DROP TABLE items; DELETE FROM sqlmig_history")
    db.execute(ITEMS.format(rows=12000))
    assert cli("apply", "--yes", *_flags(project, database_url)).returncode == 0
    res = cli("rollback", "--yes", *_flags(project, database_url))
    assert res.returncode == 0, res.stderr
    assert "0 statements" not in res.stderr
    assert "rolling back 00001_zero_prices (restores the captured rows" in res.stderr
    assert "restored 12,000 captured rows from public.sqlmig_history_capture_00001_zero_prices in " in res.stderr
    res = cli("apply", "--yes", *_flags(project, database_url))
    lines = cli("rollback", "--yes", "--format", "json", *_flags(project, database_url)).stdout.splitlines()
    event = next(json.loads(line) for line in lines if '"restore_done"' in line)
    assert event["rows"] == 12000 and isinstance(event["duration_ms"], int)


def test_a_resumed_batch_reports_this_run_and_the_total_over_runs(project, database_url, db):
    db.execute(ITEMS.format(rows=3000))
    batch = {"table": "items", "size": 250, "max_size": 250, "max_rows": 1000}
    project.add("00001_zero_prices", ZERO, "SELECT 1;", {"phase": "migrate", "batch": batch})
    settings = project.settings(database_url)
    first: list[ev.Event] = []
    with pytest.raises(BatchPaused):
        sqlmig.apply(settings, yes=True, sink=first.append)
    with pytest.raises(BatchPaused):
        sqlmig.apply(settings, yes=True, sink=first.append)
    prior_ms = db.execute("SELECT sum(elapsed_ms) FROM sqlmig_history_checkpoints").fetchone()[0]
    last: list[ev.Event] = []
    sqlmig.apply(settings, yes=True, sink=last.append)
    summary = next(e for e in last if isinstance(e, ev.BatchSummary))
    assert summary.resumed and summary.stopped is None
    assert (summary.rows_touched, summary.batches) == (1000, 4)  # this run
    assert (summary.total_rows_touched, summary.total_batches) == (3000, 12)  # every run
    assert summary.total_duration_ms == prior_ms + summary.duration_ms
    text = summary.render_text()
    assert "this run" in text and "3000 rows touched in 12 batches over all runs" in text
    recorded = db.execute("SELECT duration_ms FROM sqlmig_history WHERE version = '00001'").fetchone()[0]
    assert recorded == summary.total_duration_ms  # status shows the migration's whole duration


def test_capture_with_a_composite_key_keeps_only_the_rows_each_range_changed(project, database_url, db):
    db.execute(
        "CREATE TABLE items (part integer NOT NULL, id integer NOT NULL, price numeric NOT NULL, "
        "PRIMARY KEY (part, id)); INSERT INTO items SELECT g % 5, g, g FROM generate_series(1, 5000) g"
    )
    up = "UPDATE items SET price = 0 WHERE id % 4 = 0 AND (part, id) BETWEEN :batch_start AND :batch_end;"
    batch = {"table": "items", "key": ["part", "id"], "size": 300, "max_size": 300, "capture": True}
    project.add("00001_zero_some", up, "-- sqlmig:restore-captured\n", {"phase": "migrate", "batch": batch})
    sqlmig.apply(project.settings(database_url), yes=True)
    assert db.execute("SELECT count(*) FROM sqlmig_history_capture_00001_zero_some").fetchone()[0] == 1250
    sqlmig.rollback(project.settings(database_url), yes=True)
    assert db.execute("SELECT count(*) FROM items WHERE price = id").fetchone()[0] == 5000
