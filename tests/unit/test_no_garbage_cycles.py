"""What the read-ahead child does (sqlmig.project.warm_cache) leaves no garbage cycles: the child runs with
Python's cycle collector off (sqlmig.cli.gcpause) and never turns it on, so a cycle per file read would grow
it with the project (it did: 40% more memory on 10,000 manifests, from a recursive closure and an
undisposed PyYAML loader)."""

from __future__ import annotations

import os
import subprocess
import sys

_COUNT = """
import collections, gc, sys
from sqlmig.config import load_settings
from sqlmig.project import warm_cache

settings = load_settings(sys.argv[1])
warm_cache(settings, "manifests")  # once: imports and first-use caches are not what this is about
warm_cache(settings, "statements")
gc.collect()
gc.disable()
gc.freeze()
gc.set_debug(gc.DEBUG_SAVEALL)
for kind in ("manifests", "statements"):
    for path in (settings.project_dir / "cache").glob("sqlmig/*"):
        path.unlink()
    warm_cache(settings, kind)
    found = gc.collect()
    kinds = collections.Counter(type(o).__qualname__ for o in gc.garbage).most_common(5)
    print(kind, found, kinds)
    gc.garbage.clear()
"""


def test_reading_manifests_and_splitting_files_leaves_no_cycles(tmp_path):
    for sub in ("migrations", "rollback", "manifests"):
        (tmp_path / sub).mkdir()
    for i in range(1, 41):
        stem = f"{i:05d}_m{i}"
        (tmp_path / "migrations" / f"{stem}.sql").write_text(
            f"CREATE TABLE t{i} (id int);\nCREATE FUNCTION f{i}() RETURNS int LANGUAGE sql AS $$ SELECT {i} $$;\n"
        )
        (tmp_path / "rollback" / f"{stem}.sql").write_text(f"DROP FUNCTION f{i}(); DROP TABLE t{i};\n")
        (tmp_path / "manifests" / f"{stem}.yaml").write_text(
            f"description: Table {i}.\nphase: expand\ntags: [a, b]\nbatch:\n  table: t{i}\n  key: [id]\n"
            if i % 2
            else f"description: Table {i}.\nphase: expand\nlock_timeout: 2s\n"
        )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", _COUNT, str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["manifests", "0"], ["statements", "0"]], done.stdout
