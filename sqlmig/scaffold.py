"""`sqlmig new`: the next version and the three files, written from commented templates."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlmig.config import Settings
from sqlmig.errors import UsageError
from sqlmig.planner import PHASES
from sqlmig.project import NAME_RE

FORWARD = """-- {stem}: forward SQL, run verbatim.
-- Write the change below. sqlmig wraps it in one transaction unless the manifest says
-- transaction: none (needed for CREATE INDEX CONCURRENTLY and friends).

"""

ROLLBACK = """-- {stem}: rollback SQL, undoes the forward file (newest first, in reverse order).

"""

MANIFEST = """# {stem}: what this change is. Every key: `sqlmig schema`.
description: "TODO: say what this change does"

# expand (additive, before new code ships) | migrate (data, while both run) | contract (removals, after)
phase: {phase}

# per-migration (default: all or nothing) | none (statement by statement, e.g. CREATE INDEX CONCURRENTLY)
transaction: per-migration

# false, or why this change cannot be undone:
#   point_of_no_return: {{reason: "drops column users.legacy_id", backup: required}}
point_of_no_return: false

# How long each statement may wait for a lock (default 5s) and run (default: no limit).
# lock_timeout: 5s
# statement_timeout: 10min

# Queries that must return true after the change, inside its transaction:
# verify:
#   - SELECT count(*) = 0 FROM orders WHERE customer_id IS NULL

# A large data change in small, separately committed key ranges:
# batch:
#   table: orders
#   key: id          # unique, indexed; default the primary key
#   size: 1000       # rows per batch to start with
#   target_ms: 200   # adaptive: aim each batch at this duration
#   sleep_ms: 0      # pause between batches
"""


def existing_versions(settings: Settings) -> list[str]:
    versions = []
    for folder in (settings.migrations_dir, settings.rollback_dir, settings.manifests_dir):
        if folder.is_dir():
            for p in folder.iterdir():
                m = NAME_RE.match(p.stem)
                if m:
                    versions.append(m["version"])
    return versions


def next_version(versions: list[str], *, sequential: bool, now: datetime | None = None) -> str:
    """The next version: follows the project's numbering (sequential or timestamp), never reusing one.

    With no migrations yet, `sequential` picks 00001; otherwise a UTC timestamp. A project
    whose versions are short numbers stays sequential, padded to its current width.
    """
    numbers = [int(v) for v in versions]
    newest = max(numbers, default=0)
    uses_sequential = sequential or (versions and all(len(v) < 14 for v in versions))
    if uses_sequential:
        width = max((len(v) for v in versions), default=5)
        return str(newest + 1).zfill(width)
    stamp = int((now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S"))
    return str(max(stamp, newest + 1))


def create_migration(settings: Settings, name: str, *, phase: str = "expand",
                     sequential: bool = False) -> list[Path]:  # fmt: skip
    """Write migrations/, rollback/ and manifests/ files for a new migration; return their paths."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_]*", name):
        raise UsageError(f"invalid migration name {name!r}", hint="use lower-case letters, digits and _")
    if phase not in PHASES:
        raise UsageError(f"--phase must be one of {', '.join(PHASES)}, got {phase!r}")
    version = next_version(existing_versions(settings), sequential=sequential)
    stem = f"{version}_{name}"
    files = [
        (settings.migrations_dir / f"{stem}.sql", FORWARD),
        (settings.rollback_dir / f"{stem}.sql", ROLLBACK),
        (settings.manifests_dir / f"{stem}.yaml", MANIFEST),
    ]
    for path, _ in files:
        if path.exists():
            raise UsageError(f"{path} already exists")
    for path, template in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(stem=stem, phase=phase), encoding="utf-8")
    return [p for p, _ in files]
