"""How a batched statement is bounded to a key range (no database): placeholders, rewrites, refusals."""

from __future__ import annotations

import pytest

from sqlmig.batch.bounds import bound_statements, refuse_stray_placeholders
from sqlmig.errors import ProjectError
from sqlmig.manifest import Batch
from sqlmig.sql import has_restore_directive, split_statements


def _bound(sql: str, key: tuple[str, ...] | None = ("id",), **batch):
    return bound_statements(split_statements(sql, "m.sql"), Batch(table="items", key=key, **batch), key)


def test_placeholders_become_parameters_and_nothing_else_changes():
    sql = ("UPDATE items SET note = ':batch_start stays', n = n + 1 /* :batch_end too */\n"
           "WHERE kind LIKE 'a%' AND id BETWEEN :batch_start AND :batch_end::bigint -- :batch_start\n")  # fmt: skip
    (b,) = _bound(sql)
    assert not b.rewritten
    expected = sql.split(" -- :batch_start")[0].replace("BETWEEN :batch_start AND :batch_end", "BETWEEN $1 AND $2")
    assert b.server_text() == expected
    assert b.params(["10"], ["20"]) == ["10", "20"]


def test_composite_keys_bind_a_row_per_bound():
    (b,) = _bound("DELETE FROM items WHERE (tenant, id) BETWEEN :batch_start AND :batch_end;", ("tenant", "id"))
    assert b.server_text(2) == "DELETE FROM items WHERE (tenant, id) BETWEEN ($1, $2) AND ($3, $4)"
    assert b.params(["1", "a"], ["2", "b"]) == ["1", "a", "2", "b"]


def test_a_statement_without_placeholders_is_rewritten_with_the_key_predicate():
    (b,) = _bound("UPDATE items AS i SET n = 0 WHERE n < 0;")
    assert b.rewritten
    assert b.server_text() == 'UPDATE items AS i SET n = 0 WHERE n < 0 AND "i"."id" BETWEEN $1 AND $2'
    (ins,) = _bound("INSERT INTO archive (id) SELECT id FROM public.items WHERE gone;")
    assert ins.server_text().endswith('WHERE gone AND "id" BETWEEN $1 AND $2')
    (comp,) = _bound("DELETE FROM items;", ("a", "b"))
    assert comp.server_text(2) == 'DELETE FROM items WHERE ("a", "b") BETWEEN ($1, $2) AND ($3, $4)'


@pytest.mark.parametrize(
    ("sql", "key", "message"),
    [
        ("UPDATE other SET n = 0;", ("id",), "does not operate on the batch table"),
        ("UPDATE items SET n = 0 FROM other WHERE other.id = items.id;", ("id",), "WITH or FROM"),
        ("UPDATE items SET n = 0;", None, "names no batch key"),
        ("UPDATE items SET n = 0 WHERE id >= :batch_start;", ("id",), "not :batch_end"),
    ],
)
def test_statements_that_cannot_be_bounded_are_refused_with_the_fix(sql, key, message):
    with pytest.raises(ProjectError, match=message) as info:
        _bound(sql, key)
    assert "BETWEEN :batch_start AND :batch_end" in (info.value.hint or "")
    assert info.value.where == "m.sql:1"


def test_schema_changes_do_not_belong_in_a_batched_migration():
    with pytest.raises(ProjectError, match="holds only data changes"):
        _bound("CREATE INDEX ON items (n);")


def test_capture_needs_update_or_delete_of_the_batch_table():
    _bound("DELETE FROM items WHERE id BETWEEN :batch_start AND :batch_end;", capture=True)
    with pytest.raises(ProjectError, match="capture: true"):
        _bound("UPDATE other SET n = 0 WHERE id BETWEEN :batch_start AND :batch_end;", capture=True)


def test_restore_directive_is_a_comment_line():
    assert has_restore_directive("-- sqlmig:restore-captured\n")
    assert has_restore_directive("SELECT 1;\n  --  sqlmig:restore-captured  \n")
    assert not has_restore_directive("SELECT '-- sqlmig:restore-captured';")
    assert not has_restore_directive(None)


@pytest.mark.parametrize(
    ("sql", "name", "line"),
    [
        ("UPDATE items SET n = 0 WHERE id >= :BATCH_START;", "batch_start", 1),
        ("SELECT 1;\nDELETE FROM items\nWHERE id <= :Batch_End;", "batch_end", 2),
        ("UPDATE items SET note = ':batch_end' WHERE id BETWEEN :batch_start AND 9;", "batch_start", 1),
    ],
)
def test_stray_placeholders_are_found_in_any_case(sql, name, line):
    with pytest.raises(ProjectError, match=f"^:{name} is a batch range placeholder") as info:
        refuse_stray_placeholders(split_statements(sql, "m.sql"), "manifests/m.yaml")
    assert info.value.where == f"m.sql:{line}"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE items SET note = ':batch_start, :BATCH_END' WHERE id > 0;",  # a string
        "UPDATE items SET n = 0 /* :batch_start */ WHERE id > 0; -- :batch_end",  # comments
        "UPDATE items SET \":batch_end\" = 0 WHERE $$:batch_start$$ <> '';",  # a quoted name, a dollar quote
        "UPDATE items SET n = 0 WHERE id > 0 AND batch_end_at IS NULL;",  # the word without a colon
        "SELECT '{}'::jsonb, x::batch_start FROM items;",  # a cast to a type of that name
    ],
)
def test_placeholder_text_in_strings_comments_and_names_is_not_a_placeholder(sql):
    refuse_stray_placeholders(split_statements(sql, "m.sql"), "manifests/m.yaml")
