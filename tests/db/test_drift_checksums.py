"""Checksum drift: an applied migration's files edited or removed stop apply, rollback and plan (exit 3);
`sqlmig repair` records what a person reviewed and says exactly what it changed."""

from __future__ import annotations

import json

import pytest


def _run(cli, project, url, *args):
    return cli(*args, "--database-url", url, "--project", str(project.root))


@pytest.fixture
def applied(project, database_url, cli):
    project.add("00001_a", "CREATE TABLE a (x int);", down="DROP TABLE a;")
    project.add("00002_b", "CREATE TABLE b (x int);", down="DROP TABLE b;")
    project.add("00003_c", "CREATE TABLE c (x int);", down="DROP TABLE c;")
    res = _run(cli, project, database_url, "apply")
    assert res.returncode == 0, res.stderr
    return project


def test_edited_files_stop_apply_rollback_and_plan(applied, database_url, db, cli):
    root = applied.root
    (root / "migrations" / "00001_a.sql").write_text("CREATE TABLE a (x bigint);")
    (root / "rollback" / "00002_b.sql").write_text("DROP TABLE IF EXISTS b;")
    (root / "manifests" / "00003_c.yaml").write_text("description: edited\nphase: expand\n")
    applied.add("00004_d", "CREATE TABLE d (x int);")  # pending: must not run
    for args in (["apply"], ["rollback", "--yes"], ["plan"], ["plan", "--rollback"]):
        res = _run(cli, applied, database_url, *args)
        assert res.returncode == 3, (args, res.stderr)
        assert "3 applied migrations differ from their files" in res.stderr
        assert "00001_a: changed: migrations/00001_a.sql" in res.stderr
        assert "00002_b: changed: rollback/00002_b.sql" in res.stderr
        assert "00003_c: changed: manifests/00003_c.yaml" in res.stderr
        assert "sqlmig repair" in res.stderr
    assert db.execute("SELECT to_regclass('d')").fetchone()[0] is None
    assert db.execute("SELECT to_regclass('c')").fetchone()[0] is not None  # nothing rolled back

    res = _run(cli, applied, database_url, "status", "--format", "json")
    assert res.returncode == 0
    assert [r["status"] for r in json.loads(res.stdout)] == ["drifted", "drifted", "drifted", "pending"]

    res = _run(cli, applied, database_url, "repair")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "00001_a: recorded new checksums for migrations/00001_a.sql",
        "00002_b: recorded new checksums for rollback/00002_b.sql; the rollback SQL kept for `sqlmig rollback` "
        "is now the file's",
        "00003_c: recorded new checksums for manifests/00003_c.yaml",
        "repair: 3 changes",
    ]
    assert _run(cli, applied, database_url, "repair").stdout.strip() == "repair: nothing to repair"
    kept = dict(db.execute("SELECT version, rollback_sql FROM sqlmig_history").fetchall())
    assert kept["00002"] == "DROP TABLE IF EXISTS b;" and kept["00001"] == "DROP TABLE a;"  # the rollback now run
    res = _run(cli, applied, database_url, "apply")
    assert res.returncode == 0, res.stderr
    assert db.execute("SELECT to_regclass('d')").fetchone()[0] is not None


def test_a_file_removed_from_an_applied_migration_is_drift(applied, database_url, db, cli):
    for gone in ("rollback/00002_b.sql", "manifests/00002_b.yaml", "migrations/00002_b.sql"):
        saved = (applied.root / gone).read_bytes()
        (applied.root / gone).unlink()
        for args in (["apply"], ["plan"], ["rollback", "--yes", "--to", "1"]):
            res = _run(cli, applied, database_url, *args)
            assert res.returncode == 3, (gone, args, res.stderr)
            assert f"00002_b: changed: {gone} (removed)" in res.stderr
        res = _run(cli, applied, database_url, "repair")
        assert f"not repaired: restore {gone}" in res.stdout
        (applied.root / gone).write_bytes(saved)
    assert db.execute("SELECT count(*) FROM sqlmig_history WHERE status = 'applied'").fetchone()[0] == 3


def test_a_missing_file_of_a_pending_migration_is_a_project_error(applied, database_url, cli):
    applied.add("00004_d", "CREATE TABLE d (x int);", down=None)  # no rollback, not a point of no return
    res = _run(cli, applied, database_url, "apply")
    assert res.returncode == 2
    assert "missing rollback/00004_d.sql" in res.stderr and "point_of_no_return" in res.stderr


def test_migrations_gone_from_an_older_checkout_roll_back_from_the_stored_sql(applied, database_url, db, cli):
    for sub, ext in (("migrations", "sql"), ("rollback", "sql"), ("manifests", "yaml")):
        for stem in ("00002_b", "00003_c"):
            (applied.root / sub / f"{stem}.{ext}").unlink()
    res = _run(cli, applied, database_url, "apply")
    assert res.returncode == 3
    assert "00002_b: missing: migrations/00002_b.sql" in res.stderr
    assert "00003_c: missing: migrations/00003_c.sql" in res.stderr
    res = _run(cli, applied, database_url, "status", "--format", "json")
    assert [(r["version"], r["status"]) for r in json.loads(res.stdout)] == [
        ("00001", "applied"), ("00002", "missing_file"), ("00003", "missing_file")]  # fmt: skip

    res = _run(cli, applied, database_url, "plan", "--rollback", "--to", "1")
    assert res.returncode == 0, res.stderr
    assert "history:00003_c (rollback SQL stored at apply time):1  DROP TABLE c" in res.stdout
    res = _run(cli, applied, database_url, "rollback", "--to", "1", "--yes")
    assert res.returncode == 0, res.stderr
    assert db.execute("SELECT to_regclass('b'), to_regclass('c')").fetchone() == (None, None)
    rows = dict(db.execute("SELECT version, status FROM sqlmig_history").fetchall())
    assert rows == {"00001": "applied", "00002": "rolled_back", "00003": "rolled_back"}
    res = _run(cli, applied, database_url, "apply")
    assert res.returncode == 0 and "nothing to apply" in res.stdout


def test_repair_forgets_migrations_whose_files_were_deleted_on_purpose(applied, database_url, db, cli):
    for sub, ext in (("migrations", "sql"), ("rollback", "sql"), ("manifests", "yaml")):
        (applied.root / sub / f"00003_c.{ext}").unlink()
    res = _run(cli, applied, database_url, "repair")
    assert res.stdout.splitlines() == ["00003_c: files are gone; removed its history row", "repair: 1 change"]
    assert _run(cli, applied, database_url, "apply").returncode == 0
    assert db.execute("SELECT count(*) FROM sqlmig_history").fetchone()[0] == 2


def test_an_edited_applied_migration_is_named_before_the_sum_mismatch(applied, database_url, db, cli):
    """With migrations.sum, editing an applied file is drift first; `sqlmig hash` is advice for new files only."""
    root = applied.root
    assert cli("hash", "--project", str(root)).returncode == 0
    (root / "migrations" / "00002_b.sql").write_text("CREATE TABLE b (x bigint);")
    for args in (["apply"], ["apply", "--dry-run"]):
        res = _run(cli, applied, database_url, *args)
        assert res.returncode == 3, res.stderr
        first_error = next(line for line in res.stderr.splitlines() if line.startswith("error:"))
        assert first_error == "error: 1 applied migration differs from its files"
        assert "00002_b: changed: migrations/00002_b.sql" in res.stderr
        assert "an applied migration was edited: restore it" in res.stderr
        assert "do not match migrations.sum" not in res.stderr

    (root / "migrations" / "00002_b.sql").write_text("CREATE TABLE b (x int);")  # restored
    applied.add("00004_d", "CREATE TABLE d (x int);", down="DROP TABLE d;")  # new, not hashed yet
    res = _run(cli, applied, database_url, "apply")
    assert res.returncode == 3
    assert "migrations.sum: the migration files do not match migrations.sum" in res.stderr
    assert "migrations/00004_d.sql: is not listed in migrations.sum" in res.stderr
    assert "run `sqlmig hash`" in res.stderr
    assert db.execute("SELECT to_regclass('d')").fetchone()[0] is None
    assert cli("hash", "--project", str(root)).returncode == 0
    assert _run(cli, applied, database_url, "apply").returncode == 0
