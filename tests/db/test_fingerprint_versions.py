"""The fingerprint on PostgreSQL 15 (Debian's server binaries) and 18 (embedded): the same where the catalogs allow.

Known differences, which come from the servers and not from the schema: pg_get_viewdef
stops qualifying columns with the table name in single-table views from 16 on, and each
server ships its own extension versions (citext 1.6 on 15, 1.8 on 18).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from sqlmig import fingerprint, schemadiff
from tests.conftest import REPO

PG15 = Path("/usr/lib/postgresql/15/bin")
KNOWN = {("extension", "citext", "version"), ("view", "cheap_items", "definition"),
         ("materialized view", "item_counts", "definition")}  # fmt: skip


@pytest.fixture(scope="module")
def pg15(pg_server):
    """Debian's PostgreSQL 15 in a temporary folder on a unix socket; as `embedded_postgres` when root."""
    if not (PG15 / "initdb").exists():
        pytest.skip("Debian's PostgreSQL 15 server binaries are not installed (postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="sqlmig-pg15-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "embedded_postgres")  # the user the embedded server already runs as
        run_as = ["runuser", "-u", "embedded_postgres", "--"]
    data, sock = root / "data", root
    subprocess.run([*run_as, PG15 / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=utf8"],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run([*run_as, PG15 / "pg_ctl", "-D", data, "-o", f"-h '' -k {sock} -p 54315", "-l", root / "log",
                    "-w", "start"], check=True, capture_output=True)  # fmt: skip
    try:
        yield f"host={sock} port=54315 user=postgres dbname=postgres"
    finally:
        subprocess.run([*run_as, PG15 / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _fresh(admin: str, name: str) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return psycopg.conninfo.make_conninfo(admin, dbname=name)


def _take(url: str) -> fingerprint.Fingerprint:
    with psycopg.connect(url, autocommit=True) as conn:
        return fingerprint.take(conn)


def test_example_project_is_identical_on_15_and_18(pg15, pg_server, tmp_path, cli):
    for sub in ("migrations", "rollback", "manifests"):
        shutil.copytree(REPO / sub, tmp_path / sub)
    urls = [_fresh(pg15, "example"), _fresh(pg_server.admin_url, "example_18")]
    for url in urls:
        res = cli("apply", "--yes", "--database-url", url, "--project", str(tmp_path))
        assert res.returncode == 0, res.stderr
    old, new = (_take(u) for u in urls)
    assert (old.server_version // 10000, new.server_version // 10000) == (15, 18)
    assert old.hash == new.hash, [c.render() for c in schemadiff.compare(old.snapshot, new.snapshot)]
    pg_server.drop_database("example_18")


def test_rich_schema_differs_only_where_the_catalogs_do(pg15, pg_server):
    sql = (REPO / "tests" / "db" / "data" / "rich_schema.sql").read_text()
    urls = [_fresh(pg15, "rich"), _fresh(pg_server.admin_url, "rich_18")]
    for url in urls:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)
    changes = schemadiff.compare(_take(urls[0]).snapshot, _take(urls[1]).snapshot)
    assert {(c.kind, c.name, c.what) for c in changes} <= KNOWN, [c.render() for c in changes]
    pg_server.drop_database("rich_18")
