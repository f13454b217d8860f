"""Backups before a point of no return: pg_dump of the tables it alters, recorded in history; refused when it fails."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from sqlmig.backup import find_pg_dump
from sqlmig.errors import BackupFailed

PONR = {"phase": "contract", "point_of_no_return": {"reason": "drops items.legacy", "backup": "required"}}


def _project(project, database_url, cli, db):
    project.add("0001_items", "CREATE TABLE items (id int PRIMARY KEY, legacy text); CREATE TABLE other (id int);",
                "DROP TABLE other; DROP TABLE items;")  # fmt: skip
    assert cli("apply", "--database-url", database_url, "--project", str(project.root)).returncode == 0
    db.execute("INSERT INTO items SELECT g, 'old-' || g FROM generate_series(1, 100) g")
    project.add("0002_drop_legacy", "ALTER TABLE items DROP COLUMN legacy;", None, manifest=PONR)


def _apply(cli, project, database_url, *extra, env=None):
    return cli("apply", "--yes", "--database-url", database_url, "--project", str(project.root), *extra, env=env)


def test_backup_is_taken_recorded_and_restorable(project, database_url, cli, db, pg_server):
    _project(project, database_url, cli, db)
    res = _apply(cli, project, database_url, env={"XDG_RUNTIME_DIR": ""})
    assert res.returncode == 0, res.stderr
    assert "Warning" not in res.stderr  # finding the embedded package's pg_dump imports it quietly
    path = db.execute("SELECT backup_file FROM sqlmig_history WHERE version = '0002'").fetchone()[0]
    dump = Path(path)
    assert dump.parent == project.root / ".sqlmig" / "backups" and dump.name.startswith("0002_drop_legacy-")
    assert f"backup of public.items written to {path}" in res.stderr
    server_major = db.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()[0]
    pg_restore = str(Path(find_pg_dump(server_major)).with_name("pg_restore"))
    listing = subprocess.run([pg_restore, "--list", path], capture_output=True, text=True, check=True).stdout
    assert "TABLE DATA public items" in listing and "other" not in listing  # only the table it alters
    # the README's restore: the old table, data included, into a scratch database
    scratch = pg_server.create_database()
    try:
        subprocess.run([pg_restore, "--dbname", pg_server.url_for(scratch), "--no-owner", path], check=True)
        with psycopg.connect(pg_server.url_for(scratch)) as conn:
            assert conn.execute("SELECT count(*), min(legacy) FROM items").fetchone() == (100, "old-1")
    finally:
        pg_server.drop_database(scratch)


def test_no_backup_skips_it_with_a_warning(project, database_url, cli, db):
    _project(project, database_url, cli, db)
    res = _apply(cli, project, database_url, "--no-backup")
    assert res.returncode == 0, res.stderr
    assert "warning: 0002_drop_legacy: --no-backup: running this point of no return without the backup" in res.stderr
    assert db.execute("SELECT backup_file FROM sqlmig_history WHERE version = '0002'").fetchone()[0] is None
    assert not (project.root / ".sqlmig" / "backups").exists()


@pytest.fixture
def owner_url(pg_server, database_url, db):
    """The test database owned by a role that is not a superuser (so privileges apply to it)."""
    role = f"owner_{uuid.uuid4().hex[:8]}"
    db.execute(f'CREATE ROLE "{role}" LOGIN')
    db.execute(f'ALTER DATABASE "{db.info.dbname}" OWNER TO "{role}"')
    yield psycopg.conninfo.make_conninfo(database_url, user=role)
    db.execute(f'DROP OWNED BY "{role}" CASCADE')
    db.execute(f'ALTER DATABASE "{db.info.dbname}" OWNER TO CURRENT_USER')
    db.execute(f'DROP ROLE "{role}"')


def test_a_failed_dump_refuses_to_run_the_migration(project, owner_url, cli, db):
    _project(project, owner_url, cli, db)
    with psycopg.connect(owner_url, autocommit=True) as owner:
        owner.execute("REVOKE SELECT ON items FROM CURRENT_USER")  # the owner may still ALTER, but not read it
    res = _apply(cli, project, owner_url)
    assert res.returncode == 1, res.stderr
    assert (
        "error: manifests/0002_drop_legacy.yaml: pg_dump failed before 0002_drop_legacy; the migration did not run"
        in res.stderr
    )
    assert "permission denied for table items" in res.stderr
    assert db.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' "
                      "AND column_name = 'legacy'").fetchone()[0] == 1  # fmt: skip
    assert db.execute("SELECT count(*) FROM sqlmig_history WHERE version = '0002'").fetchone()[0] == 0
    assert list((project.root / ".sqlmig" / "backups").iterdir()) == []  # no half-written dump left behind


def test_no_matching_pg_dump_says_what_to_install(project, database_url, cli, db):
    _project(project, database_url, cli, db)
    (project.root / "sqlmig.toml").write_text('pg_dump = "/bin/false"\n')
    res = _apply(cli, project, database_url)
    assert res.returncode == 1
    assert "no pg_dump for PostgreSQL 18 found" in res.stderr and "tried: /bin/false (does not run)" in res.stderr
    assert "apt-get install postgresql-client-18" in res.stderr


@pytest.mark.skipif(not Path("/usr/lib/postgresql/15/bin/pg_dump").exists(), reason="no PostgreSQL 15 client")
def test_find_pg_dump_refuses_another_major_version():
    with pytest.raises(BackupFailed) as info:
        find_pg_dump(18, "/usr/lib/postgresql/15/bin/pg_dump")
    assert info.value.details == ["tried: /usr/lib/postgresql/15/bin/pg_dump (PostgreSQL 15)"]
    assert find_pg_dump(15).endswith("pg_dump")
