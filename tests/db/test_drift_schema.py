"""`sqlmig drift`: hand-made changes are found, an untouched database shows none, sqlmig's tables never show up."""

from __future__ import annotations

import json

import psycopg

from sqlmig import drift, fingerprint


def _setup(project, database_url, cli):
    project.add("0001_items", "CREATE TABLE items (id bigint PRIMARY KEY, sku text, price numeric DEFAULT 0);\n"
                "CREATE FUNCTION price_of(i bigint) RETURNS numeric LANGUAGE sql AS $$ SELECT price FROM items "
                "WHERE id = i $$;", "DROP FUNCTION price_of(bigint); DROP TABLE items;")  # fmt: skip
    res = cli("apply", "--yes", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0, res.stderr


def _drift(cli, project, database_url, *extra, env=None):
    return cli("drift", "--database-url", database_url, "--project", str(project.root), *extra, env=env)


def test_untouched_database_has_no_drift(project, database_url, cli, db):
    _setup(project, database_url, cli)
    res = _drift(cli, project, database_url)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "drift: none; the schema is as sqlmig left it" in res.stdout
    # the hash of the schema is on the history row, the snapshot beside it
    row_hash = db.execute("SELECT schema_hash FROM sqlmig_history WHERE version = '0001'").fetchone()[0]
    snap_hash, blob = db.execute("SELECT schema_hash, snapshot FROM sqlmig_history_snapshots").fetchone()
    assert row_hash == snap_hash == fingerprint.schema_hash(fingerprint.decompress(bytes(blob)))


def test_hand_made_changes_are_listed_and_exit_3(project, database_url, cli, db):
    _setup(project, database_url, cli)
    db.execute("CREATE INDEX items_sku_hand ON items (sku)")
    db.execute("ALTER TABLE items ALTER COLUMN price SET DEFAULT 5")
    db.execute("CREATE OR REPLACE FUNCTION price_of(i bigint) RETURNS numeric LANGUAGE sql AS "
               "$$ SELECT price * 2 FROM items WHERE id = i $$")  # fmt: skip
    res = _drift(cli, project, database_url)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "  column items.price: default 0 → 5" in res.stdout
    assert "  index items_sku_hand: added (CREATE INDEX items_sku_hand ON public.items USING btree (sku))" in res.stdout
    assert "  function price_of(i bigint): body changed" in res.stdout
    assert "drift: 3 objects changed outside sqlmig" in res.stdout
    data = json.loads(_drift(cli, project, database_url, "--format", "json").stdout)
    assert data["drift"] is True and len(data["changes"]) == 3


def test_sqlmig_own_tables_never_show_up(project, database_url, cli, db):
    _setup(project, database_url, cli)
    snap = drift.take(db, project.settings(database_url)).snapshot
    names = [name for objects in snap.values() for name in objects]
    assert names and not [n for n in names if "sqlmig" in n]
    # sqlmig writing to its own tables (another apply, a rollback) is never drift
    project.add("0002_more", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;")
    assert cli("apply", "--database-url", database_url, "--project", str(project.root)).returncode == 0
    db.execute("CREATE TABLE sqlmig_history_checkpoints_extra (x int)")  # a table beside history is sqlmig's
    assert _drift(cli, project, database_url).returncode == 0
    assert cli("rollback", "--yes", "--database-url", database_url, "--project", str(project.root)).returncode == 0
    assert _drift(cli, project, database_url).returncode == 0


def test_apply_warns_about_drift_and_strict_refuses(project, database_url, cli, db):
    _setup(project, database_url, cli)
    db.execute("ALTER TABLE items ADD COLUMN hand text")
    project.add("0002_idx", "CREATE INDEX items_sku ON items (sku);", "DROP INDEX items_sku;")
    res = cli("apply", "--strict", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 3
    assert "the schema changed outside sqlmig" in res.stderr and "column items.hand: added (text)" in res.stderr
    assert db.execute("SELECT to_regclass('items_sku')").fetchone()[0] is None  # nothing ran
    res = cli("apply", "--database-url", database_url, "--project", str(project.root))
    assert res.returncode == 0
    assert "warning: the schema changed outside sqlmig" in res.stderr
    # the run's own change is recorded; the hand-made column is still reported afterwards
    res = _drift(cli, project, database_url)
    assert res.returncode == 3
    assert "column items.hand: added (text)" in res.stdout and "items_sku" not in res.stdout


def test_accept_records_the_live_schema(project, database_url, cli, db):
    _setup(project, database_url, cli)
    db.execute("CREATE INDEX items_sku_hand ON items (sku)")
    res = _drift(cli, project, database_url, "--accept")
    assert res.returncode == 0 and "recorded the live schema as the new baseline" in res.stdout
    assert _drift(cli, project, database_url).returncode == 0


def test_no_baseline_is_a_usage_error(database_url, project, cli):
    res = _drift(cli, project, database_url)
    assert res.returncode == 2
    assert "no schema snapshot recorded yet" in res.stderr and "sqlmig drift --accept" in res.stderr


def test_carry_forward_keeps_drift_outside_the_run():
    baseline = {"table": {"a": {"columns": ["id"]}}, "index": {"a_idx": {"definition": "x"}}}
    before = {"table": {"a": {"columns": ["id", "hand"]}}, "index": {"a_idx": {"definition": "x"}}}
    after = {"table": {"a": {"columns": ["id", "hand"]}, "b": {"columns": ["id"]}}, "index": {}}
    assert drift.carry_forward(baseline, before, after) == {"table": {"a": {"columns": ["id"]},
                                                                      "b": {"columns": ["id"]}}}  # fmt: skip


def test_a_table_locked_by_another_session_makes_drift_fail_clearly_not_hang(project, database_url, cli, db):
    _setup(project, database_url, cli)
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        res = _drift(cli, project, database_url, env={"SQLMIG_LOCK_TIMEOUT": "200ms"})
    assert res.returncode == 1
    assert (
        "cannot read the schema (for its fingerprint): a lock was not granted within lock_timeout 200ms" in res.stderr
    )
    assert "55P03" in res.stderr
