"""migrations.sum: the checksum of every migration file, and of the whole list.

The file sits at the project root. After a comment header comes one `total` line (the
sha256 of the per-file lines below it), then one line per file in the format of
`sha256sum` (`<sha256>  <path>`), in version order. Every new migration changes the
total line and adds lines at the same place, so two branches that each add a migration
conflict when merged instead of silently interleaving. `sqlmig new` and `sqlmig hash`
write it; `sqlmig check` and `sqlmig apply` verify it when it exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlmig.errors import DriftError
from sqlmig.project import IGNORED
from sqlmig.sql import checksum

SUM_FILE = "migrations.sum"
FOLDERS = ("migrations", "rollback", "manifests")
HEADER = (
    "# sqlmig integrity file: the sha256 of every migration file and of this list.\n"
    "# Written by `sqlmig new` and `sqlmig hash`; verified by `sqlmig check` and `sqlmig apply`.\n"
    "# A merge conflict here means two branches added migrations: resolve it with `sqlmig hash`,\n"
    "# then run `sqlmig check --base <branch>` to see whether a version must be renumbered.\n"
)
_LINE = re.compile(r"^(?P<sum>[0-9a-f]{64})  (?P<path>\S.*)$")
_TOTAL = re.compile(r"^total (?P<sum>[0-9a-f]{64})$")
_VERSION = re.compile(r"^([0-9]+)_")


@dataclass(frozen=True)
class Mismatch:
    """One way the files and migrations.sum disagree. `line` is in migrations.sum (0: not listed there)."""

    path: str  # the migration file, or migrations.sum itself
    what: str  # changed | unlisted | missing | total | conflict | malformed
    line: int = 0

    def render(self) -> str:
        where = f" (line {self.line} of {SUM_FILE})" if self.line and self.path != SUM_FILE else ""
        messages = {
            "changed": "differs from its checksum in migrations.sum",
            "unlisted": "is not listed in migrations.sum",
            "missing": "is listed in migrations.sum but the file is gone",
            "total": "the total line does not match the lines below it "
            "(edited by hand, or merged without `sqlmig hash`)",
            "conflict": "holds merge conflict markers: two branches added migrations",
            "malformed": "this line is not `<sha256>  <path>`",
        }
        prefix = f"{self.path}:{self.line}" if self.path == SUM_FILE and self.line else self.path
        return f"{prefix}: {messages[self.what]}{where}"


def _order(path: str) -> tuple:
    folder, _, name = path.partition("/")
    m = _VERSION.match(name)
    rank = FOLDERS.index(folder) if folder in FOLDERS else len(FOLDERS)
    return (int(m[1]) if m else float("inf"), name.rsplit(".", 1)[0], rank, path)


def project_files(root: Path) -> dict[str, bytes]:
    """Every file the sum covers: all files in migrations/, rollback/ and manifests/ except those the loader skips.

    Deliberately no validation, so `sqlmig hash` works on a project that does not load
    (a merge that left two migrations with one version, say).
    """
    files = {}
    for folder in FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in base.iterdir():
            if path.is_file() and path.name not in IGNORED and not path.name.startswith("."):
                files[f"{folder}/{path.name}"] = path.read_bytes()
    return files


def render_sum(checksums: Mapping[str, str]) -> str:
    """The text of migrations.sum for {path: sha256}."""
    body = "".join(f"{checksums[p]}  {p}\n" for p in sorted(checksums, key=_order))
    return f"{HEADER}total {checksum(body.encode())}\n{body}"


def write_sum(root: Path) -> int:
    """Write migrations.sum from the files on disk; return how many files it lists."""
    sums = {p: checksum(b) for p, b in project_files(root).items()}
    (root / SUM_FILE).write_text(render_sum(sums), encoding="utf-8", newline="\n")
    return len(sums)


@dataclass(frozen=True)
class SumFile:
    total: str | None
    entries: dict[str, tuple[str, int]]  # path -> (sha256, line number)
    body: str  # the per-file lines as written, for the total
    problems: tuple[Mismatch, ...]


def parse_sum(text: str) -> SumFile:
    total, entries, body, problems = None, {}, [], []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if line.startswith(("<<<<<<<", "=======", ">>>>>>>", "|||||||")):
            problems.append(Mismatch(SUM_FILE, "conflict", n))
            continue
        if not line.strip() or line.startswith("#"):
            continue
        if m := _TOTAL.match(line):
            total = m["sum"]
        elif m := _LINE.match(line):
            entries[m["path"]] = (m["sum"], n)
            body.append(line + "\n")
        else:
            problems.append(Mismatch(SUM_FILE, "malformed", n))
    if any(p.what == "conflict" for p in problems):  # one finding is enough; every line around it is noise
        problems = [next(p for p in problems if p.what == "conflict")]
    return SumFile(total, entries, "".join(body), tuple(problems))


def compare(text: str, files: Mapping[str, bytes]) -> list[Mismatch]:
    """How the sum file's text and the files ({path: bytes}) disagree; [] when they agree."""
    parsed = parse_sum(text)
    if parsed.problems:
        return list(parsed.problems)
    out = []
    if parsed.total != checksum(parsed.body.encode()):
        total_line = next((n for n, raw in enumerate(text.splitlines(), 1) if raw.startswith("total ")), 1)
        out.append(Mismatch(SUM_FILE, "total", total_line))
    for path in sorted(set(parsed.entries) | set(files), key=_order):
        listed = parsed.entries.get(path)
        if listed is None:
            out.append(Mismatch(path, "unlisted"))
        elif path not in files:
            out.append(Mismatch(path, "missing", listed[1]))
        elif checksum(files[path]) != listed[0]:
            out.append(Mismatch(path, "changed", listed[1]))
    return out


def verify(root: Path) -> list[Mismatch] | None:
    """Compare migrations.sum with the files on disk; None when there is no migrations.sum."""
    sum_path = root / SUM_FILE
    if not sum_path.is_file():
        return None
    return compare(sum_path.read_text("utf-8", errors="replace"), project_files(root))


def raise_on_mismatch(root: Path) -> None:
    """DriftError (exit 3) naming every file that differs from migrations.sum; nothing when it agrees or is absent."""
    mismatches = verify(root)
    if not mismatches:
        return
    n = len(mismatches)
    raise DriftError(
        f"the migration files do not match {SUM_FILE} ({n} difference{'s' if n != 1 else ''})",
        where=str(root / SUM_FILE),
        details=[m.render() for m in mismatches],
        hint="if the files are right (a migration written or edited on purpose, before it ran anywhere), "
        "run `sqlmig hash` and commit migrations.sum; otherwise restore the files from git",
    )
