"""What sqlmig derived from a file, cached by the sha256 of the file's bytes, outside the project.

One JSON file per kind of result and project folder, in the user's cache folder
($XDG_CACHE_HOME/sqlmig, else ~/.cache/sqlmig), never in the project (nothing to commit or
ignore). Any change to a file misses; the whole cache is ignored when its stamp (sqlmig's
version and the source of the code that derives the entries) differs. A cache that cannot be
read or written is simply not used: every entry can be derived again from the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any


def cache_path(kind: str, project_dir: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    project = hashlib.sha256(os.fsencode(project_dir.resolve())).hexdigest()[:20]  # any path, UTF-8 or not
    return base / "sqlmig" / f"{kind}-{project}.json"


def stamp(*modules: ModuleType, extra: tuple[str | Path, ...] = ()) -> str:
    """sqlmig's version and the source of `modules` (plus `extra`: strings as given, files' bytes)."""
    from sqlmig import __version__

    h = hashlib.sha256(__version__.encode())
    for module in modules:
        h.update(Path(module.__file__ or "").read_bytes())
    for item in extra:
        h.update(item.read_bytes() if isinstance(item, Path) else item.encode())
    return h.hexdigest()


class ContentCache:
    """Entries by key (a file's sha256), loaded at construction; `save` once at the end, which writes
    only when something was added or an entry is to be dropped (neither used nor kept: a file that
    is gone, or an older version of one)."""

    def __init__(self, kind: str, project_dir: Path, stamp: str) -> None:
        self.kind = kind
        self.stamp = stamp
        self.entries: dict[str, Any] = {}
        self.used: set[str] = set()
        self.dirty = False
        try:
            self.path: Path | None = cache_path(kind, project_dir)
        except (RuntimeError, KeyError, OSError):  # no home folder to find (no $HOME, no passwd entry)
            self.path = None
            return
        # RecursionError: a JSON document nested thousands deep
        with contextlib.suppress(OSError, ValueError, RecursionError):
            data = json.loads(self.path.read_text("utf-8"))
            if isinstance(data, dict) and data.get("stamp") == stamp and isinstance(data.get("entries"), dict):
                self.entries = data["entries"]

    def get(self, key: str) -> Any | None:
        entry = self.entries.get(key)
        if entry is not None:
            self.used.add(key)
        return entry

    def put(self, key: str, entry: Any) -> None:
        self.used.add(key)
        self.entries[key] = entry
        self.dirty = True

    def save(self, keep: set[str] | frozenset[str] = frozenset()) -> bool:
        """Write the cache atomically, keeping the entries used since loading and those whose key is in
        `keep` (files of the project this command did not need); skipped when it cannot. Whether the
        file now holds the entries (written, or nothing to change)."""
        kept = self.used | (keep & self.entries.keys())
        if self.path is None:
            return False
        if not self.dirty and kept == self.entries.keys():
            return True
        entries = {k: v for k, v in self.entries.items() if k in kept}
        import tempfile

        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.kind}-")
            # json.dumps, not json.dump: dump encodes in pure Python, chunk by chunk (10 ms for 500 entries)
            text = json.dumps({"stamp": self.stamp, "entries": entries}, separators=(",", ":"))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self.path)
            tmp = None
            self.dirty = False
            _remove_stale(self.path.parent, f".{self.kind}-")
            return True
        except OSError:
            return False
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


STALE_S = 600.0


def _remove_stale(folder: Path, prefix: str) -> None:
    """Remove temporary files a killed process left (a save cut short by SIGKILL or a lost terminal),
    once they are old enough not to be another process's save in progress."""
    import time

    limit = time.time() - STALE_S
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):  # another process's file, renamed or removed meanwhile
                if entry.name.startswith(prefix) and entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
