"""Manifest errors, word for word: the file, the YAML line and column, the JSON path, a plain message, all at once."""

from __future__ import annotations

import pytest

from sqlmig.errors import ProjectError
from sqlmig.manifest import Batch, PointOfNoReturn, parse_manifest, read_manifest

SHOWN = "manifests/00007_backfill.yaml"


def problems(text: str | bytes) -> list[str]:
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(ProjectError) as exc:
        parse_manifest(raw, SHOWN)
    assert exc.value.exit_code == 2
    return exc.value.details


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "descripton: Backfill units.\nphase: migrate\n",
            ["manifests/00007_backfill.yaml:1:1: $.descripton: unknown key 'descripton'; did you mean 'description'?"],
            id="misspelt-required-key-reported-once",
        ),
        pytest.param(
            "description: x\nphase: expnad\n",
            [
                "manifests/00007_backfill.yaml:2:8: $.phase: 'expnad' is not one of: expand, migrate, contract; "
                "did you mean 'expand'?"
            ],
            id="enum-with-suggestion",
        ),
        pytest.param(
            "description: x\nphase: expand\nlock_timeout: 5 seconds\n",
            [
                "manifests/00007_backfill.yaml:3:15: $.lock_timeout: '5 seconds' is not a duration; write milliseconds "
                "as a number, or a string such as '5s', '500ms', '2min'"
            ],
            id="duration-with-a-word-unit",
        ),
        pytest.param(
            "description: x\nphase: expand\nstatement_timeout: 30d\n",
            [
                "manifests/00007_backfill.yaml:3:20: $.statement_timeout: '30d' is too long; PostgreSQL allows at most "
                "2147483647 ms (about 24 days)"
            ],
            id="duration-over-postgres-limit",
        ),
        pytest.param(
            "description: x\nphase: expand\npoint_of_no_return: {backup: required}\n",
            ["manifests/00007_backfill.yaml:3:21: $.point_of_no_return: missing required key 'reason'"],
            id="point-of-no-return-without-reason",
        ),
        pytest.param(
            "description: x\nphase: expand\npoint_of_no_return: true\n",
            [
                "manifests/00007_backfill.yaml:3:21: $.point_of_no_return: true is not valid; write false, a reason "
                "string, or {reason: ..., backup: required}"
            ],
            id="point-of-no-return-true",
        ),
        pytest.param(
            "description: x\nphase: migrate\nbatch:\n  tabel: products\n  size: 0\n  max_replication_lag_s: 0\n",
            [
                "manifests/00007_backfill.yaml:4:3: $.batch.tabel: unknown key 'tabel'; did you mean 'table'?",
                "manifests/00007_backfill.yaml:5:9: $.batch.size: 0 is too small (minimum 1)",
                "manifests/00007_backfill.yaml:6:26: $.batch.max_replication_lag_s: 0 is too small "
                "(must be more than 0)",
            ],
            id="batch-several-at-once",
        ),
        pytest.param(
            "description: x\nphase: migrate\nbatch: {table: products, size: 10, min_size: 20}\n",
            [
                "manifests/00007_backfill.yaml:3:46: $.batch.min_size: 20 is more than size (10); "
                "min_size <= size <= max_size"
            ],
            id="batch-sizes-out-of-order",
        ),
        pytest.param(
            "phase: contract\ntransaction: nope\nretries: -1\nowner: 5\nfoo: 1\nbar: 2\n",
            [
                "manifests/00007_backfill.yaml:1:1: $: missing required key 'description'",
                "manifests/00007_backfill.yaml:2:14: $.transaction: 'nope' is not one of: per-migration, none; "
                "did you mean 'none'?",
                "manifests/00007_backfill.yaml:3:10: $.retries: -1 is too small (minimum 0)",
                "manifests/00007_backfill.yaml:4:8: $.owner: expected a string, got 5",
                "manifests/00007_backfill.yaml:5:1: $.foo: unknown key 'foo'; allowed keys: allow_empty, batch, "
                "description, lock_timeout, owner, phase, point_of_no_return, requires, retries, statement_timeout, "
                "tags, transaction, verify",
                "manifests/00007_backfill.yaml:6:1: $.bar: unknown key 'bar'; allowed keys: allow_empty, batch, "
                "description, lock_timeout, owner, phase, point_of_no_return, requires, retries, statement_timeout, "
                "tags, transaction, verify",
            ],
            id="every-problem-at-once",
        ),
        pytest.param(
            "description: x\nphase: migrate\nrequires: [abc]\nverify: 5\n",
            [
                "manifests/00007_backfill.yaml:3:12: $.requires[0]: 'abc' is not a version (digits only, e.g. '00001')",
                "manifests/00007_backfill.yaml:4:9: $.verify: write one SQL query as a string, or a list of queries",
            ],
            id="requires-and-verify",
        ),
        pytest.param(
            "description: x\nphase: expand\nyes: 1\n",
            [
                "manifests/00007_backfill.yaml:3:1: $.yes: unknown key 'yes'; allowed keys: allow_empty, batch, "
                "description, lock_timeout, owner, phase, point_of_no_return, requires, retries, statement_timeout, "
                "tags, transaction, verify"
            ],
            id="keys-as-written-not-yaml-1.1-booleans",
        ),
    ],
)
def test_schema_mistakes_word_for_word(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            b"description: x\n\tphase: expand\n",
            ["manifests/00007_backfill.yaml:2:1: $: tab used for indentation; YAML needs spaces"],
            id="tab-indent",
        ),
        pytest.param(
            b"description: x\nphase:\texpand\n",
            ["manifests/00007_backfill.yaml:2:7: $: tab character where YAML expects spaces; replace it with spaces"],
            id="tab-after-colon",
        ),
        pytest.param(
            b"description: x\nphase: expand\nphase: migrate\n",
            [
                "manifests/00007_backfill.yaml:3:1: $.phase: duplicate key 'phase' (first at line 2); "
                "each key may appear once"
            ],
            id="duplicate-key",
        ),
        pytest.param(
            b"description: &d x\nphase: expand\ntags: [*d]\n",
            [
                "manifests/00007_backfill.yaml:1:14: $: anchors and aliases (&name, *name) are not allowed in "
                "manifests; write the value out (2 anchors and aliases in this file)"
            ],
            id="anchor-and-alias",
        ),
        pytest.param(  # an alias on its own: named as an alias, not as YAML's "undefined alias"
            b"description: x\nphase: *p\n",
            [
                "manifests/00007_backfill.yaml:2:8: $: anchors and aliases (&name, *name) are not allowed in "
                "manifests; write the value out"
            ],
            id="alias-alone",
        ),
        pytest.param(
            b"description: x\nphase: &p expand\n",
            [
                "manifests/00007_backfill.yaml:2:8: $: anchors and aliases (&name, *name) are not allowed in "
                "manifests; write the value out"
            ],
            id="anchor-alone",
        ),
        pytest.param(
            b"description: x\nphase: !custom expand\n",
            ["manifests/00007_backfill.yaml:2:8: $: YAML tag !custom is not allowed in manifests; write a plain value"],
            id="local-tag",
        ),
        pytest.param(
            b"\xef\xbb\xbfdescription: x\nphase: expand\n",
            [
                "manifests/00007_backfill.yaml:1:1: $: file starts with a byte-order mark (BOM); save it as UTF-8 "
                "without BOM"
            ],
            id="bom",
        ),
        pytest.param(
            b"description: caf\xe9 au lait\nphase: expand\n",
            [
                "manifests/00007_backfill.yaml:1:17: $: byte 0xe9 is not valid UTF-8 (Latin-1 or Windows-1252?); "
                "save the file as UTF-8"
            ],
            id="latin-1",
        ),
        pytest.param(
            b"description: !!python/object:os.system x\nphase: expand\n",
            [
                "manifests/00007_backfill.yaml:1:14: $: YAML tag !!python/object:os.system is not allowed in "
                "manifests; write a plain value"
            ],
            id="python-tag",
        ),
        pytest.param(
            b"description: x\nphase: expand\n---\ndescription: y\n",
            [
                "manifests/00007_backfill.yaml:3:1: $: more than one YAML document (a second ---); "
                "a manifest is one document"
            ],
            id="two-documents",
        ),
        pytest.param(
            b"description: [x\nphase: expand\n",
            [
                "manifests/00007_backfill.yaml:2:6: $: invalid YAML: while parsing a flow sequence: "
                "expected ',' or ']', but got ':'"
            ],
            id="unclosed-bracket",
        ),
        pytest.param(
            b"# only a comment\n",
            ["manifests/00007_backfill.yaml:1:1: $: manifest is empty; it needs at least description: and phase:"],
            id="empty",
        ),
        pytest.param(
            b"- description: x\n",
            [
                "manifests/00007_backfill.yaml:1:1: $: a manifest is a mapping of keys (description:, phase:, …), "
                "got a list"
            ],
            id="a-list",
        ),
    ],
)
def test_malformed_yaml_word_for_word(raw: bytes, expected: list[str]) -> None:
    assert problems(raw) == expected


def test_alias_bomb_is_refused_before_anything_expands() -> None:
    """A billion-laughs document: 10 levels of 10 aliases would be 10^10 items if expanded."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    found = problems("\n".join(lines) + "\n")
    assert found == [
        "manifests/00007_backfill.yaml:1:5: $: anchors and aliases (&name, *name) are not allowed in manifests; "
        "write the value out (100 anchors and aliases in this file)"
    ]


def test_error_names_the_file_and_points_at_help() -> None:
    with pytest.raises(ProjectError) as exc:
        parse_manifest(b"phase: expand\n", SHOWN)
    assert exc.value.render().splitlines() == [
        "error: manifests/00007_backfill.yaml: invalid manifest (1 problem)",
        "  manifests/00007_backfill.yaml:1:1: $: missing required key 'description'",
        "  hint: see `sqlmig schema` for every key, or `sqlmig new` for a commented template",
    ]


def test_point_of_no_return_forms() -> None:
    short = parse_manifest(b"description: x\nphase: contract\npoint_of_no_return: drops t.c\n", SHOWN)
    full = parse_manifest(
        b"description: x\nphase: contract\npoint_of_no_return:\n  reason: drops t.c\n  backup: required\n", SHOWN
    )
    off = parse_manifest(b"description: x\nphase: expand\npoint_of_no_return: false\n", SHOWN)
    assert short.point_of_no_return == PointOfNoReturn("drops t.c")
    assert full.point_of_no_return == PointOfNoReturn("drops t.c", "required")
    assert off.point_of_no_return is None


def test_batch_fields_and_widened_bounds() -> None:
    m = parse_manifest(b"description: x\nphase: migrate\nbatch: {table: products, key: [a, b], size: 50}\n", SHOWN)
    assert m.batch == Batch(table="products", key=("a", "b"), size=50, min_size=50, max_size=50000)
    m = parse_manifest(b"description: x\nphase: migrate\nbatch: {table: products, size: 90000, capture: true}\n", SHOWN)
    assert (m.batch.min_size, m.batch.size, m.batch.max_size, m.batch.capture) == (100, 90000, 90000, True)


def test_durations_and_dates() -> None:
    raw = b"description: 2024-05-01\nphase: expand\nlock_timeout: 1500\nstatement_timeout: 1.5 min\n"
    m = parse_manifest(raw, SHOWN)
    assert (m.description, m.lock_timeout, m.statement_timeout) == ("2024-05-01", "1500ms", "1.5min")


def test_positions_of_keys() -> None:
    raw = b"description: x\nphase: migrate\nrequires:\n  - '00001'\n  - '00002'\nbatch:\n  table: t\n"
    m, found = read_manifest(raw)
    assert found == [] and m is not None
    assert (m.line_of("requires", 1), m.line_of("batch", "table"), m.line_of("batch", "size")) == (5, 7, 6)


def _properties(node: object, path: str = "$"):
    """Every (path, property schema) in the manifest schema, nested ones included."""
    if isinstance(node, dict):
        for key, sub in node.get("properties", {}).items():
            yield f"{path}.{key}", sub
        for key, sub in node.items():
            yield from _properties(sub, path if key in ("properties", "oneOf", "items") else f"{path}.{key}")
    elif isinstance(node, list):
        for sub in node:
            yield from _properties(sub, path)


def test_schema_is_valid_and_every_property_is_described() -> None:
    from jsonschema import Draft202012Validator

    from sqlmig.manifest import schema

    Draft202012Validator.check_schema(schema())
    props = dict(_properties(schema()))
    assert {"$.description", "$.phase", "$.batch", "$.point_of_no_return", "$.verify"} <= set(props)
    undescribed = [p for p, sub in props.items() if not sub.get("description")]
    assert undescribed == []
    assert schema()["additionalProperties"] is False and props["$.batch"]["additionalProperties"] is False


def test_schema_defaults_match_the_batch_runner_defaults() -> None:
    from dataclasses import fields

    from sqlmig.manifest import schema

    batch = schema()["properties"]["batch"]["properties"]
    for f in fields(Batch):
        if "default" in batch[f.name]:
            assert batch[f.name]["default"] == f.default, f.name
    assert set(batch) == {f.name for f in fields(Batch)}


def test_new_template_is_a_valid_manifest_and_its_comments_are_valid_too() -> None:
    """`sqlmig new` writes a commented template: valid as written, and valid with every example uncommented."""
    import re

    from sqlmig.scaffold import MANIFEST

    text = MANIFEST.format(stem="00009_x", phase="migrate")
    m = parse_manifest(text.encode(), "manifests/00009_x.yaml")
    assert (m.phase, m.transaction, m.point_of_no_return) == ("migrate", "per-migration", None)
    example = text.replace("point_of_no_return: false\n", "").replace("#   point_of_no_return:", "point_of_no_return:")
    example = re.sub(r"^# (?=[a-z_]+:)", "", example, flags=re.M)
    example = re.sub(r"^# (?=  ([a-z_]+:|- ))", "", example, flags=re.M)
    m = parse_manifest(example.encode(), "manifests/00009_x.yaml")
    assert m.batch is not None and m.batch.table == "orders" and m.requires == ("00012",)
    assert m.point_of_no_return == PointOfNoReturn("drops column users.legacy_id", "required")


def test_the_example_project_manifests_are_valid() -> None:
    from tests.conftest import REPO

    for path in sorted((REPO / "manifests").glob("*.yaml")):
        parse_manifest(path.read_bytes(), str(path))


def test_the_new_template_names_every_manifest_key() -> None:
    """`sqlmig new` writes every key of the schema, set or commented, so the template documents them all."""
    from sqlmig.manifest import schema
    from sqlmig.scaffold import MANIFEST

    missing = [key for key in schema()["properties"] if f"{key}:" not in MANIFEST]
    assert missing == []
    batch_keys = schema()["properties"]["batch"]["properties"]
    assert [key for key in batch_keys if f"#   {key}:" not in MANIFEST] == []
