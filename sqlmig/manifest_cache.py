"""Validated manifests cached by content, so a command on a large project skips YAML and JSON Schema.

`sqlmig status` or a no-op `apply` on a project of hundreds of migrations would otherwise parse
and validate every manifest on every run. The cache maps the sha256 of a manifest's bytes to
the plain data and positions a valid parse produced; any change to a file misses, and the whole
cache is ignored when sqlmig's version, the schema or the manifest code changes. Invalid
manifests are never cached, so their errors always come from a real parse. It lives in the
user's cache folder ($XDG_CACHE_HOME/sqlmig, else ~/.cache/sqlmig), one file per project
folder, never in the project (nothing to commit or ignore); a cache that cannot be read or
written is simply not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlmig.manifest import Manifest, parse_manifest


def cache_path(project_dir: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    project = hashlib.sha256(str(project_dir.resolve()).encode()).hexdigest()[:20]
    return base / "sqlmig" / f"manifests-{project}.json"


def _stamp() -> str:
    """What a cached entry depends on besides the file: sqlmig's version and the code that validates."""
    from sqlmig import __version__, manifest, yaml_strict

    h = hashlib.sha256(__version__.encode())
    for module in (manifest, yaml_strict):
        h.update(Path(module.__file__).read_bytes())
    h.update(Path(manifest.__file__).with_name("manifest.schema.json").read_bytes())
    return h.hexdigest()


class ManifestCache:
    """Load with `get`; call `save` once at the end (it writes only when something was added)."""

    def __init__(self, project_dir: Path) -> None:
        self.path = cache_path(project_dir)
        self.stamp = _stamp()
        self.entries: dict[str, Any] = {}
        self.used: set[str] = set()
        self.dirty = False
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.path.read_text("utf-8"))
            if isinstance(data, dict) and data.get("stamp") == self.stamp and isinstance(data.get("entries"), dict):
                self.entries = data["entries"]

    def get(self, raw: bytes, display: str) -> Manifest:
        """The manifest of these bytes: from the cache, or parsed and validated (ProjectError when invalid)."""
        from sqlmig.manifest import from_validated
        from sqlmig.yaml_strict import Positions

        key = hashlib.sha256(raw).hexdigest()
        self.used.add(key)
        entry = self.entries.get(key)
        if entry is not None:
            try:
                positions = Positions({tuple(p): tuple(lc) for p, lc in entry["keys"]},
                                      {tuple(p): tuple(lc) for p, lc in entry["values"]})  # fmt: skip
                return from_validated(entry["data"], positions)
            except (KeyError, TypeError, ValueError):  # a damaged entry: parse the file instead
                pass
        manifest = parse_manifest(raw, display)
        keys = [[list(p), list(lc)] for p, lc in manifest.positions.keys.items()]
        values = [[list(p), list(lc)] for p, lc in manifest.positions.values.items()]
        try:
            json.dumps(manifest.raw)
        except (TypeError, ValueError):
            return manifest  # not plain JSON data: parse it every time
        self.entries[key] = {"data": manifest.raw, "keys": keys, "values": values}
        self.dirty = True
        return manifest

    def save(self) -> None:
        """Write the cache atomically, keeping only the entries of this load; skipped when it cannot."""
        if not self.dirty and set(self.entries) == self.used:
            return
        entries = {k: v for k, v in self.entries.items() if k in self.used}
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".manifests-")
            # json.dumps, not json.dump: dump encodes in pure Python, chunk by chunk (10 ms for 500 entries)
            text = json.dumps({"stamp": self.stamp, "entries": entries}, separators=(",", ":"))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self.path)
            tmp = None
        except OSError:
            pass
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
