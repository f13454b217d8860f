"""Validated manifests cached by content, so a command on a large project skips YAML and JSON Schema.

`sqlmig status` or a no-op `apply` on a project of hundreds of migrations would otherwise parse
and validate every manifest on every run. The cache (sqlmig.content_cache) maps the sha256 of a
manifest's bytes to the plain data and positions a valid parse produced; it is ignored whole
when sqlmig's version, the schema or the manifest code changes. Invalid manifests are never
cached, so their errors always come from a real parse.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlmig import content_cache
from sqlmig.manifest import Manifest, parse_manifest

KIND = "manifests"


def cache_path(project_dir: Path) -> Path:
    return content_cache.cache_path(KIND, project_dir)


def _stamp() -> str:
    """What a cached entry depends on besides the file: sqlmig's version and the code that validates."""
    from sqlmig import manifest, yaml_strict

    schema = Path(manifest.__file__).with_name("manifest.schema.json")
    return content_cache.stamp(manifest, yaml_strict, extra=(schema,))


class ManifestCache:
    """Load with `get`; call `save` once at the end (it writes only when something changed)."""

    def __init__(self, project_dir: Path) -> None:
        self.cache = content_cache.ContentCache(KIND, project_dir, _stamp())

    def get(self, raw: bytes, display: str) -> Manifest:
        """The manifest of these bytes: from the cache, or parsed and validated (ProjectError when invalid)."""
        from sqlmig.manifest import from_validated
        from sqlmig.yaml_strict import Positions

        key = hashlib.sha256(raw).hexdigest()
        entry = self.cache.get(key)
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
        self.cache.put(key, {"data": manifest.raw, "keys": keys, "values": values})
        return manifest

    def save(self) -> bool:
        return self.cache.save()
