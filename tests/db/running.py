"""An `sqlmig apply` run in its own process, and a wait for the moment its long statement runs on the server:
what the tests that interrupt, terminate or kill a run share."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.conftest import REPO

SLEEP = "SELECT pg_sleep(600)"  # the long statement those tests put in a migration


def spawn_apply(project, url) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLMIG_DATABASE_URL")}
    return subprocess.Popen([sys.executable, "-m", "sqlmig", "apply", "--database-url", url, "--project",
                             str(project.root)], cwd=REPO, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip


def sleeping_pids(db) -> list[int]:
    """The server pids of sqlmig sessions running SLEEP right now."""
    rows = db.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'sqlmig' "
                      "AND query LIKE %s AND state = 'active'", (SLEEP + "%",)).fetchall()  # fmt: skip
    return [pid for (pid,) in rows]


def wait_for_sleep(db, proc: subprocess.Popen) -> list[int]:
    """Until the run's SLEEP statement is on the server (its pids); fails if the run ends first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = sleeping_pids(db)
        if pids:
            return pids
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{SLEEP} never ran")


def sqlmig_sessions(db) -> int:
    return db.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sqlmig'").fetchone()[0]
