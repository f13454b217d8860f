"""The manifest cache: a hit gives the same Manifest without parsing; any change misses; damage is ignored."""

from __future__ import annotations

import json

import pytest

from sqlmig import manifest_cache
from sqlmig.errors import ProjectError
from sqlmig.project import load_project


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    return tmp_path / "cache-home"


def _cache_file(project):
    return manifest_cache.cache_path(project.root)


def _no_parsing(monkeypatch):
    def refuse(raw, display):
        raise AssertionError(f"parsed {display}")

    monkeypatch.setattr(manifest_cache, "parse_manifest", refuse)


def test_second_load_uses_the_cache_and_gives_equal_manifests(project, monkeypatch):
    project.add("00001_a", "SELECT 1;", manifest={"lock_timeout": "2s", "verify": ["SELECT true"],
                                                  "batch": {"table": "t", "size": 10}})  # fmt: skip
    project.add("00002_b", "SELECT 1;", manifest={"point_of_no_return": {"reason": "x", "backup": "required"}})
    first = load_project(project.settings())
    assert _cache_file(project).is_file()
    assert not (project.root / ".sqlmig").exists()  # nothing written into the project
    _no_parsing(monkeypatch)
    second = load_project(project.settings())
    for a, b in zip(first.migrations, second.migrations, strict=True):
        assert a.manifest == b.manifest and a.manifest.raw == b.manifest.raw
        assert a.manifest.positions == b.manifest.positions
    assert second.migrations[0].manifest.line_of("batch", "size") == first.migrations[0].manifest.line_of(
        "batch", "size")  # fmt: skip


def test_an_edited_or_invalid_manifest_is_parsed(project, monkeypatch):
    project.add("00001_a", "SELECT 1;")
    load_project(project.settings())
    project.add("00001_a", "SELECT 1;", manifest={"phase": "migrate"})
    assert load_project(project.settings()).migrations[0].manifest.phase == "migrate"
    project.add("00001_a", "SELECT 1;", manifest={"phase": "later"})
    for _ in range(2):  # never cached: the error comes from a real parse each time
        with pytest.raises(ProjectError, match="1 problem"):
            load_project(project.settings())


@pytest.mark.parametrize("damage", ["not json", '{"stamp": "other", "entries": {}}', '{"stamp": null}', "[]"])
def test_a_damaged_or_foreign_cache_is_ignored(project, damage):
    project.add("00001_a", "SELECT 1;")
    load_project(project.settings())
    path = _cache_file(project)
    path.write_text(damage)
    assert load_project(project.settings()).migrations[0].manifest.phase == "expand"
    assert json.loads(path.read_text())["stamp"] == manifest_cache._stamp()  # rewritten


def test_a_damaged_entry_is_parsed_again(project):
    project.add("00001_a", "SELECT 1;")
    load_project(project.settings())
    path = _cache_file(project)
    data = json.loads(path.read_text())
    for entry in data["entries"].values():
        entry["keys"] = "garbage"
    path.write_text(json.dumps(data))
    assert load_project(project.settings()).migrations[0].manifest.phase == "expand"


def test_an_unwritable_cache_is_not_an_error(project, cache_home):
    project.add("00001_a", "SELECT 1;")
    cache_home.write_text("a file where the folder would be")
    assert load_project(project.settings()).migrations[0].version == "00001"
