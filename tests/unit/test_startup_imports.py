"""What a command imports on its way: the heavy libraries only where it uses them (README, Performance:
`--help` under 0.15 s, `lint` on every commit). An import that creeps onto a path shows here, by name."""

from __future__ import annotations

import os
import subprocess
import sys

_LOADED = """
import atexit, sys
WATCH = ("psycopg", "sqlglot", "jsonschema", "yaml", "rich", "sqlmig.events", "sqlmig.migrator")
atexit.register(lambda: sys.stderr.write("LOADED " + " ".join(m for m in WATCH if m in sys.modules) + "\\n"))
sys.argv = {argv!r}
from sqlmig.cli import main
main()
"""


def _loaded(argv: list[str], cwd) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _LOADED.format(argv=["sqlmig", *argv])], capture_output=True,
                          text=True, cwd=cwd, env=os.environ.copy(), timeout=60)  # fmt: skip
    line = [x for x in done.stderr.splitlines() if x.startswith("LOADED")][-1]
    return set(line.split()[1:])


def test_help_and_version_import_no_heavy_library(tmp_path):
    assert _loaded(["--help"], tmp_path) == set()
    assert _loaded(["apply", "--help"], tmp_path) == set()
    assert _loaded(["--version"], tmp_path) == set()


def test_lint_imports_sqlglot_and_nothing_of_the_database_side(tmp_path):
    (tmp_path / "0001_t.sql").write_text("CREATE TABLE t (id int);\n")
    assert _loaded(["lint", str(tmp_path / "0001_t.sql")], tmp_path) == {"sqlglot"}
