"""`sqlmig new`: the next version and the three files, written from commented templates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmig.config import Settings
from sqlmig.errors import UsageError
from sqlmig.events import Note, Sink, discard
from sqlmig.integrity import write_sum
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
# retries: 3                   # lock-timeout retries of a transactional migration, with backoff

# true lets the forward file hold no statements (a placeholder that keeps numbering):
# allow_empty: false

# Queries that must return true after the change, inside its transaction:
# verify:
#   - SELECT count(*) = 0 FROM orders WHERE customer_id IS NULL

# A large data change in small, separately committed key ranges (sizes in rows):
# batch:
#   table: orders
#   key: id                    # unique, indexed; default the primary key
#   size: 1000                 # rows per batch to start with
#   min_size: 100              # adaptive sizing stays within min_size..max_size
#   max_size: 50000
#   target_ms: 50              # adaptive: aim each batch at this duration
#   sleep_ms: 0                # pause between batches
#   max_replication_lag_s: 10  # wait while a replica lags more than this
#   max_rows: 1000000          # stop after this many rows per run; the next apply resumes
#   capture: false             # true: keep prior row values so the rollback can restore them

# Versions that must be applied first (for out-of-order deploys by phase), and bookkeeping:
# requires: ["00012"]
# owner: payments-team
# tags: [billing]
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


_STAMP = "%Y%m%d%H%M%S"


def next_version(versions: list[str], *, sequential: bool, now: datetime | None = None,
                 emit: Sink = discard) -> str:  # fmt: skip
    """The next version: follows the project's numbering (sequential or timestamp), never reusing one.

    With no migrations yet, `sequential` picks 00001; otherwise a UTC timestamp. A project
    whose versions are short numbers stays sequential, padded to its current width. In a
    timestamp project `sequential` is refused: newest+1 is not a timestamp. When the clock is
    not past the newest version, the next second after it is used, with a Note saying so.
    """
    numbers = [int(v) for v in versions]
    newest = max(numbers, default=0)
    timestamps = any(len(v) >= 14 for v in versions)
    if sequential and timestamps:
        raise UsageError(
            f"--sequential: this project numbers its migrations by UTC timestamp (newest: {newest}); "
            f"{newest + 1} would not be one",
            hint="leave out --sequential: `sqlmig new` follows the project's numbering",
        )
    if sequential or (versions and not timestamps):
        width = max((len(v) for v in versions), default=5)
        return str(newest + 1).zfill(width)
    clock = (now or datetime.now(UTC)).strftime(_STAMP)
    if int(clock) > newest:
        return clock
    try:
        after = (datetime.strptime(str(newest), _STAMP) + timedelta(seconds=1)).strftime(_STAMP)
    except ValueError:  # the newest version is not a real timestamp: go one past it
        after = str(newest + 1)
    emit(Note("warning", f"the newest migration's version {newest} is not before the clock ({clock} UTC), "
                         f"so the new one is {after}: check that clock, or that version"))  # fmt: skip
    return after


def create_migration(settings: Settings, name: str, *, phase: str = "expand",
                     sequential: bool = False, emit: Sink = discard) -> list[Path]:  # fmt: skip
    """Write migrations/, rollback/ and manifests/ files for a new migration; return their paths."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_]*", name):
        raise UsageError(f"invalid migration name {name!r}", hint="use lower-case letters, digits and _")
    if phase not in PHASES:
        raise UsageError(f"--phase must be one of {', '.join(PHASES)}, got {phase!r}")
    version = next_version(existing_versions(settings), sequential=sequential, emit=emit)
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
    write_sum(settings.project_dir)
    return [p for p, _ in files]


def renumber_migration(settings: Settings, which: str, *, sequential: bool = False,
                       emit: Sink = discard) -> list[tuple[Path, Path]]:  # fmt: skip
    """Move a migration's three files to the next version (after every other one); update migrations.sum.

    `which` is a version ('00009', '9') or a stem ('00009_add_x', needed when a merge left
    two migrations with one version). The old stem in each file's leading comment lines (the
    templates' header) becomes the new one. Returns (old path, new path) per moved file.
    """
    ups = {p.stem: p for p in settings.migrations_dir.glob("*.sql") if NAME_RE.match(p.stem)}
    matches = [s for s in ups if s == which or (which.isdigit() and int(NAME_RE.match(s)["version"]) == int(which))]
    if not matches:
        raise UsageError(f"--renumber {which}: no migration has that version or name", hint="see `sqlmig status`")
    if len(matches) > 1:
        raise UsageError(f"--renumber {which}: {len(matches)} migrations have that version: {', '.join(matches)}",
                         hint="give the full name, e.g. --renumber " + matches[-1])  # fmt: skip
    stem = matches[0]
    old_version, name = NAME_RE.match(stem)["version"], NAME_RE.match(stem)["name"]
    versions = existing_versions(settings)
    twins = [s for s in ups if int(NAME_RE.match(s)["version"]) == int(old_version)]
    if int(old_version) == max(int(v) for v in versions) and len(twins) == 1:
        raise UsageError(f"{stem} is already the newest migration; nothing to renumber")
    new_stem = f"{next_version(versions, sequential=sequential, emit=emit)}_{name}"
    moves = []
    for folder, suffix in ((settings.migrations_dir, ".sql"), (settings.rollback_dir, ".sql"),
                           (settings.manifests_dir, ".yaml")):  # fmt: skip
        if (folder / f"{stem}{suffix}").exists():
            moves.append((folder / f"{stem}{suffix}", folder / f"{new_stem}{suffix}"))
    for old, new in moves:
        old.rename(new)
        _rename_in_header(new, stem, new_stem)
    write_sum(settings.project_dir)
    return moves


def _rename_in_header(path: Path, old: str, new: str) -> None:
    """Replace the old stem with the new one in the file's leading comment lines (`--` or `#`), byte for
    byte elsewhere; the SQL itself is never touched."""
    raw = path.read_bytes()
    lines = raw.splitlines(keepends=True)
    changed = False
    for i, line in enumerate(lines):
        if not line.lstrip().startswith((b"--", b"#")):
            break
        if old.encode() in line:
            lines[i] = line.replace(old.encode(), new.encode())
            changed = True
    if changed:
        path.write_bytes(b"".join(lines))
