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


def _rewrite_entries(project, change):
    path = _cache_file(project)
    data = json.loads(path.read_text())
    data["entries"] = {k: change(v) for k, v in data["entries"].items()}
    path.write_text(json.dumps(data))


def test_an_entry_that_points_inside_a_string_is_not_believed(project, monkeypatch):
    # The cache is trusted as the project is, but an entry must still fit its file: a slice that
    # starts inside a string leaves text between statements that is not whitespace or comments.
    sql = "COMMENT ON TABLE victim IS 'do not DROP TABLE victim; ever';\n"
    project.add("00001_a", sql)
    [first] = _statements(project)
    at = sql.index("DROP")
    _rewrite_entries(project, lambda e: [[at, len("DROP TABLE victim"), ["DROP", "TABLE", "VICTIM"], ["DROP"]]])
    assert [_fields(s) for s in _statements(project)] == [_fields(first)]


@pytest.mark.parametrize(
    "change",
    [
        lambda e: [],  # no statements in a file that has some
        lambda e: e[:1],  # a statement left out: the rest of the file is not a gap
        lambda e: [[e[0][0], e[0][1], ["INSERT", *e[0][2][1:]], e[0][3]], *e[1:]],  # not its first keyword
        lambda e: [[e[0][0] + 1, e[0][1] - 1, e[0][2], e[0][3]], *e[1:]],  # starts mid-word
    ],
)
def test_an_entry_that_does_not_fit_its_file_is_split_again(project, change):
    project.add("00001_a", FILE)
    first = _statements(project)
    _rewrite_entries(project, change)
    assert [_fields(s) for s in _statements(project)] == [_fields(s) for s in first]


def test_a_command_that_needs_some_files_keeps_the_others_entries(project):
    for n in range(1, 4):
        project.add(f"{n:05d}_m{n}", f"CREATE TABLE m{n} (id int);", down=f"DROP TABLE m{n};")
    loaded = load_project(project.settings())
    assert all(m.up.statements for m in loaded.migrations)
    loaded.save_caches()
    loaded = load_project(project.settings())
    assert loaded.migrations[0].up.statements  # a `plan --to 00001`
    assert loaded.migrations[2].rollback.statements  # a `rollback --steps 1`
    loaded.save_caches()
    entries = json.loads(_cache_file(project).read_text())["entries"]
    assert len(entries) == 4  # three forward files, one rollback file
    project.add("00002_m2", "CREATE TABLE m2b (id int);", down="DROP TABLE m2b;")
    loaded = load_project(project.settings())
    assert loaded.migrations[0].up.statements
    loaded.save_caches()
    entries = json.loads(_cache_file(project).read_text())["entries"]
    assert len(entries) == 3  # the old text of 00002 is gone from the project, and from the cache


def test_a_cached_dollar_quoted_body_is_judged_without_its_tokens(project):
    from sqlmig.streamed import _needs_its_own_turn

    project.add("00001_f", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\nSELECT $1::int;\n")
    _statements(project)
    body, parameter = _statements(project)
    assert callable(body.token_source) and callable(parameter.token_source)  # from the cache
    assert not _needs_its_own_turn(body)
    assert callable(body.token_source)  # decided from the text and words: the file was not split again
    assert _needs_its_own_turn(parameter)  # a bare `$1` is read from the tokens, derived on demand
    assert not callable(parameter.token_source)


def test_no_home_folder_or_a_pathological_cache_file_is_not_an_error(project, monkeypatch, cache_home):
    project.add("00001_a", FILE)
    _statements(project)
    _cache_file(project).write_text("[" * 100_000)  # deeper than json can nest
    assert len(_statements(project)) == 4
    monkeypatch.delenv("XDG_CACHE_HOME")

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr("pathlib.Path.home", no_home)
    assert len(_statements(project)) == 4
    assert load_project(project.settings()).migrations[0].manifest.phase == "expand"  # the manifest cache too
