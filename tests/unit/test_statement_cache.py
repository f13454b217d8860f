"""The statement cache: a second read of a project gives the same statements without splitting its files;
their tokens, when something reads them, are the real split's; any change, damage or split error misses."""

from __future__ import annotations

import json

import pytest

from sqlmig import ddl, statement_cache
from sqlmig.errors import ProjectError
from sqlmig.project import check_statements, load_project, refusals

FILE = """-- orders
CREATE TABLE orders (id bigint PRIMARY KEY, note text DEFAULT 'a;b');

/* a function; with a body */
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
REINDEX TABLE orders;
INSERT INTO orders VALUES (1, E'it\\'s');
"""


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    return tmp_path / "cache-home"


def _cache_file(project):
    from sqlmig.content_cache import cache_path

    return cache_path(statement_cache.KIND, project.root)


def _statements(project):
    """Read the project, split its one forward file, keep the split for the next read."""
    loaded = load_project(project.settings())
    got = loaded.migrations[0].up.statements
    loaded.save_caches()
    return got


def _no_splitting(monkeypatch):
    def refuse(text, path=""):
        raise AssertionError(f"split {path}")

    monkeypatch.setattr(statement_cache, "split_statements", refuse)


def _fields(s):
    return (s.text, s.line, s.column, s.index, s.path, s.offset, s.keywords, s.comments_before)


def test_a_second_read_gives_the_same_statements_without_splitting(project, monkeypatch):
    project.add("00001_a", FILE)
    first = _statements(project)
    assert _cache_file(project).is_file()
    assert not (project.root / ".sqlmig").exists()  # nothing written into the project
    with monkeypatch.context() as m:
        _no_splitting(m)
        second = _statements(project)
        assert [_fields(s) for s in second] == [_fields(s) for s in first]
        assert [s.words for s in second] == [tuple(ddl.words(s)) for s in first]
    assert len(second) == 4 and second[1].text.endswith("END $$")
    # read on demand, the tokens are the real split's, file offsets included
    assert [(t.token_type, t.text, t.start, t.end) for t in second[3].tokens] == [
        (t.token_type, t.text, t.start, t.end) for t in first[3].tokens
    ]


def test_a_cached_file_is_still_refused_when_its_manifest_changes(project):
    project.add("00001_idx", "CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_idx ON t (id);\n",
                manifest={"transaction": "none"})  # fmt: skip
    loaded = load_project(project.settings())
    assert refusals(loaded.migrations[0]) == []
    loaded.save_caches()
    project.add("00001_idx", "CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_idx ON t (id);\n")
    [problem] = refusals(load_project(project.settings()).migrations[0])
    assert problem.where.endswith("00001_idx.sql:2")
    assert "CREATE INDEX CONCURRENTLY cannot run inside a transaction block" in problem.message


def test_an_edited_file_is_split_again(project):
    project.add("00001_a", "CREATE TABLE a (id int);")
    _statements(project)
    project.add("00001_a", "CREATE TABLE a (id int);\nCREATE TABLE b (id int);")
    assert [s.text for s in _statements(project)] == ["CREATE TABLE a (id int)", "CREATE TABLE b (id int)"]


def test_a_file_that_does_not_split_is_never_cached(project):
    project.add("00001_a", "CREATE TABLE a (note text DEFAULT 'open);\n")
    for _ in range(2):  # the error comes from a real split each time
        loaded = load_project(project.settings())
        with pytest.raises(ProjectError, match="unterminated string"):
            check_statements(loaded.migrations[0])
        loaded.save_caches()
    assert not _cache_file(project).exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: [[0, 10**6, *s[2:]] for s in e],  # past the end of the file
        lambda e: list(reversed(e)),  # overlapping / out of order
        lambda e: [s[:3] for s in e],  # too short
        lambda e: "garbage",
        lambda e: [[0, 0, *s[2:]] for s in e],  # empty statements
    ],
)
def test_a_damaged_entry_is_split_again(project, damage):
    project.add("00001_a", FILE)
    first = _statements(project)
    path = _cache_file(project)
    data = json.loads(path.read_text())
    data["entries"] = {k: damage(v) for k, v in data["entries"].items()}
    path.write_text(json.dumps(data))
    assert [_fields(s) for s in _statements(project)] == [_fields(s) for s in first]


@pytest.mark.parametrize("damage", ["not json", '{"stamp": "other", "entries": {}}', "[]"])
def test_a_damaged_or_foreign_cache_is_ignored_and_rewritten(project, damage):
    project.add("00001_a", FILE)
    first = _statements(project)
    path = _cache_file(project)
    path.write_text(damage)
    assert [_fields(s) for s in _statements(project)] == [_fields(s) for s in first]
    assert json.loads(path.read_text())["stamp"] == statement_cache._stamp()


def test_an_unwritable_cache_is_not_an_error(project, cache_home):
    project.add("00001_a", FILE)
    cache_home.write_text("a file where the folder would be")
    assert len(_statements(project)) == 4
