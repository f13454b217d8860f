"""Python's cycle collector while sqlmig runs (sqlmig.cli.gcpause): off while `apply`, `plan` and `rollback`
start up, back on (start-up's objects set aside) once a migration runs, untouched for other commands."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ProjectBuilder

# At exit: is the collector on, and how many objects were set aside (gc.freeze)?
_REPORT = """
import atexit, gc, sys
atexit.register(lambda: sys.stderr.write(f"GC enabled={gc.isenabled()} frozen={gc.get_freeze_count()}\\n"))
"""


def _sqlmig(argv: list[str], project: ProjectBuilder) -> tuple[int, bool, int]:
    """Run `sqlmig ARGV` through main(); (exit code, collector on at exit, objects frozen)."""
    code = f"{_REPORT}\nsys.argv = {['sqlmig', *argv]!r}\nfrom sqlmig.cli import main\nmain()\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=project.root, env=os.environ.copy())  # fmt: skip
    line = [x for x in done.stderr.splitlines() if x.startswith("GC ")][-1]
    enabled, frozen = (part.split("=")[1] for part in line.split()[1:])
    return done.returncode, enabled == "True", int(frozen)


@pytest.fixture
def two(project):
    for i in (1, 2):
        project.add(f"{i:05d}_t{i}", f"CREATE TABLE t{i} (id int);\n", f"DROP TABLE t{i};\n")
    return project


def test_apply_collects_again_once_a_migration_runs(two, database_url):
    code, enabled, frozen = _sqlmig(["apply", "--database-url", database_url], two)
    assert code == 0
    assert enabled and frozen > 10_000  # start-up's modules and the project, set aside when the run began


def test_rollback_collects_again_once_a_migration_runs(two, database_url):
    assert _sqlmig(["apply", "--database-url", database_url], two)[0] == 0
    code, enabled, frozen = _sqlmig(["rollback", "--database-url", database_url, "--steps", "1", "--yes"], two)
    assert code == 0
    assert enabled and frozen > 10_000


def test_a_command_that_runs_nothing_never_collects(two, database_url):
    """plan, a dry run and an apply with nothing pending run no migration: start-up is all they do."""
    assert _sqlmig(["plan", "--database-url", database_url], two)[1:] == (False, 0)
    assert _sqlmig(["apply", "--dry-run", "--database-url", database_url], two)[1:] == (False, 0)
    assert _sqlmig(["apply", "--database-url", database_url], two)[0] == 0
    code, enabled, frozen = _sqlmig(["apply", "--database-url", database_url], two)
    assert (code, enabled, frozen) == (0, False, 0)


def test_other_commands_leave_the_collector_alone(two, database_url):
    assert _sqlmig(["status", "--database-url", database_url], two)[1:] == (True, 0)
    assert _sqlmig(["lint", "migrations"], two)[1:] == (True, 0)
