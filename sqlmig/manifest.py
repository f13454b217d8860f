"""Manifest: what a migration declares. YAML in, validated against manifest.schema.json, a frozen dataclass out.

Errors name the file, the YAML line and column, the JSON path, and say in plain words
what is wrong; all of them at once. YAML that only a parser could love (tabs, duplicate
keys, anchors and aliases, a BOM, non-UTF-8) is refused with the same care.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from sqlmig.errors import ProjectError


@dataclass(frozen=True)
class PointOfNoReturn:
    reason: str
    backup: str | None = None  # "required" when apply must take a pg_dump first


@dataclass(frozen=True)
class Batch:
    table: str
    key: tuple[str, ...] | None = None  # None: the primary key
    size: int = 1000
    min_size: int = 100
    max_size: int = 50000
    target_ms: int = 200
    sleep_ms: int = 0
    max_replication_lag_s: float | None = None
    max_rows: int | None = None
    capture: bool = False


@dataclass(frozen=True)
class Manifest:
    description: str
    phase: str
    transaction: str = "per-migration"
    point_of_no_return: PointOfNoReturn | None = None
    lock_timeout: str | None = None
    statement_timeout: str | None = None
    retries: int | None = None
    requires: tuple[str, ...] = ()
    owner: str | None = None
    tags: tuple[str, ...] = ()
    allow_empty: bool = False
    verify: tuple[str, ...] = ()
    batch: Batch | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def transactional(self) -> bool:
        return self.transaction == "per-migration"


@cache
def schema() -> dict:
    """The manifest JSON Schema shipped in the package (Draft 2020-12)."""
    return json.loads(resources.files("sqlmig").joinpath("manifest.schema.json").read_text("utf-8"))


def normalize_interval(value: Any) -> str | None:
    """A manifest duration as PostgreSQL understands it: integers are milliseconds."""
    if value is None:
        return None
    if isinstance(value, int):
        return f"{value}ms"
    return str(value).replace(" ", "")


# ---------------------------------------------------------------- YAML with positions


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest, at a YAML position and a JSON path."""

    line: int
    column: int
    path: str  # JSON path such as $.batch.size
    message: str

    def render(self, display: str) -> str:
        return f"{display}:{self.line}:{self.column}: {self.path}: {self.message}"


def _json_path(parts: list[Any]) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _load_yaml(text: str) -> tuple[Any, dict[tuple, tuple[int, int]], list[Problem]]:
    """Compose the YAML, build plain data, and map each JSON path to (line, column) of its key or value."""
    import yaml

    problems: list[Problem] = []
    marks: dict[tuple, tuple[int, int]] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        indent = raw[: len(raw) - len(raw.lstrip())]
        if "\t" in indent:
            problems.append(Problem(n, indent.index("\t") + 1, "$", "tab used for indentation; YAML needs spaces"))
    if problems:
        return None, marks, problems
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = (exc.problem or str(exc)).strip()
        if exc.context:
            msg = f"{exc.context.strip()}: {msg}"
        if "found undefined alias" in msg or "found character '*'" in msg:
            msg = "aliases (*name) are not allowed in manifests; write the value out"
        return None, marks, [Problem(line, col, "$", f"invalid YAML: {msg}")]
    except yaml.YAMLError as exc:
        return None, marks, [Problem(1, 1, "$", f"invalid YAML: {exc}")]

    def build(n: Any, path: tuple) -> Any:
        marks.setdefault(path, (n.start_mark.line + 1, n.start_mark.column + 1))
        if getattr(n, "anchor", None):
            problems.append(
                Problem(n.start_mark.line + 1, n.start_mark.column + 1, _json_path(list(path)),
                        "anchors and aliases (&name, *name) are not allowed in manifests; write the value out")
            )  # fmt: skip
        if isinstance(n, yaml.MappingNode):
            out: dict = {}
            for key_node, value_node in n.value:
                key = yaml.SafeLoader.construct_object(_loader(), key_node)  # scalars only
                if key in out:
                    problems.append(
                        Problem(key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                _json_path([*path, key]), f"duplicate key '{key}'; each key may appear once")
                    )  # fmt: skip
                    continue
                marks[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                out[key] = build(value_node, (*path, key))
                marks[(*path, key, "=value")] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, (*path, i)) for i, v in enumerate(n.value)]
        return _loader().construct_object(n)

    if node is None:
        return None, marks, problems
    return build(node, ()), marks, problems


@cache
def _loader() -> Any:
    import yaml

    return yaml.SafeLoader("")


# ---------------------------------------------------------------- schema errors in plain words

_TYPE_NAMES = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
               "array": "a list", "object": "a mapping (key: value)", "null": "nothing"}  # fmt: skip


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


def _message(error: Any) -> tuple[list[Any], str]:
    """(JSON path parts, plain message) for one jsonschema error."""
    path = list(error.absolute_path)
    v = error.validator
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        key = extra[0] if extra else "?"
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return [*path, key], f"unknown key '{key}'; {hint}"
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return path, f"missing required key '{missing}'"
    if v == "enum":
        options = error.validator_value
        close = difflib.get_close_matches(str(error.instance), [str(o) for o in options], n=1)
        tip = f"; did you mean '{close[0]}'?" if close else ""
        return path, f"{_describe(error.instance)} is not one of: {', '.join(map(str, options))}{tip}"
    if v == "const" and error.validator_value is False:
        return path, f"{_describe(error.instance)} is not allowed here (write false)"
    if v == "type":
        expected = error.validator_value
        expected = expected if isinstance(expected, list) else [expected]
        names = " or ".join(_TYPE_NAMES.get(t, t) for t in expected)
        return path, f"expected {names}, got {_describe(error.instance)}"
    if v == "oneOf":
        return path, _one_of_message(error)
    if v == "pattern":
        if "us|ms|s|min|h|d" in error.validator_value:
            return path, (f"{_describe(error.instance)} is not a duration; "
                          "write milliseconds as a number, or a string such as '5s', '500ms', '2min'")  # fmt: skip
        if error.validator_value == "^[0-9]+$":
            return path, f"{_describe(error.instance)} is not a version (digits only, e.g. '00001')"
        return path, f"{_describe(error.instance)} does not match {error.validator_value}"
    if v in ("minimum", "exclusiveMinimum"):
        return path, f"{_describe(error.instance)} is too small (minimum {error.validator_value})"
    if v == "maximum":
        return path, f"{_describe(error.instance)} is too large (maximum {error.validator_value})"
    if v == "minLength":
        return path, "must not be empty"
    if v == "minItems":
        return path, "must list at least one item"
    if v == "uniqueItems":
        return path, "lists the same item twice"
    return path, error.message


def _one_of_message(error: Any) -> str:
    """oneOf failures: name the alternatives instead of dumping each branch's error."""
    field_name = str(error.absolute_path[-1]) if error.absolute_path else ""
    inst = error.instance
    if field_name == "point_of_no_return":
        if isinstance(inst, dict):
            sub = [e for e in error.context if e.validator in ("required", "additionalProperties", "enum")]
            if sub:
                return _message(sorted(sub, key=lambda e: e.validator)[0])[1]
        return f"{_describe(inst)} is not valid; write false, a reason string, or {{reason: ..., backup: required}}"
    if field_name in ("lock_timeout", "statement_timeout"):
        return (f"{_describe(inst)} is not a duration; "
                "write milliseconds as a number, or a string such as '5s', '500ms', '2min'")  # fmt: skip
    if field_name == "verify":
        return "write one SQL query as a string, or a list of queries"
    if field_name == "key":
        return "write a column name, or a list of column names"
    best = min(error.context, key=lambda e: len(list(e.absolute_path)), default=None)
    return _message(best)[1] if best is not None else error.message


def validate(data: Any, marks: dict[tuple, tuple[int, int]]) -> list[Problem]:
    """Every schema violation, as Problems sorted by position."""
    from jsonschema import Draft202012Validator

    if not isinstance(data, dict):
        return [Problem(1, 1, "$", f"a manifest is a mapping of keys (description:, phase:, …), got {_describe(data)}")]
    problems = []
    for err in Draft202012Validator(schema()).iter_errors(data):
        parts, message = _message(err)
        line, col = marks.get(tuple(parts)) or marks.get(tuple(list(err.absolute_path))) or (1, 1)
        if err.validator not in ("additionalProperties", "required"):
            line, col = marks.get((*tuple(parts), "=value"), (line, col))
        problems.append(Problem(line, col, _json_path(parts), message))
    return sorted(set(problems), key=lambda p: (p.line, p.column, p.path))


def _to_manifest(data: dict) -> Manifest:
    ponr = data.get("point_of_no_return", False)
    if isinstance(ponr, str):
        ponr_obj: PointOfNoReturn | None = PointOfNoReturn(reason=ponr)
    elif isinstance(ponr, dict):
        ponr_obj = PointOfNoReturn(reason=ponr["reason"], backup=ponr.get("backup"))
    else:
        ponr_obj = None
    verify = data.get("verify", ())
    batch = data.get("batch")
    batch_obj = None
    if batch:
        key = batch.get("key")
        batch_obj = Batch(**{**batch, "key": (key,) if isinstance(key, str) else (tuple(key) if key else None)})
    return Manifest(
        description=data["description"],
        phase=data["phase"],
        transaction=data.get("transaction", "per-migration"),
        point_of_no_return=ponr_obj,
        lock_timeout=normalize_interval(data.get("lock_timeout")),
        statement_timeout=normalize_interval(data.get("statement_timeout")),
        retries=data.get("retries"),
        requires=tuple(str(v) for v in data.get("requires", ())),
        owner=data.get("owner"),
        tags=tuple(data.get("tags", ())),
        allow_empty=bool(data.get("allow_empty", False)),
        verify=(verify,) if isinstance(verify, str) else tuple(verify),
        batch=batch_obj,
        raw=data,
    )


def parse_manifest(raw: bytes, display: str) -> Manifest:
    """Bytes of a manifest file -> Manifest, or ProjectError listing every problem found."""
    problems: list[Problem] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        problems.append(Problem(1, 1, "$", "file starts with a byte-order mark (BOM); save it as UTF-8 without BOM"))
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(line, 1, "$", "file is not valid UTF-8; save it as UTF-8"))
        raise _manifest_error(display, problems) from None
    data, marks, yaml_problems = _load_yaml(text)
    problems += yaml_problems
    if not yaml_problems:
        problems += (
            validate(data if data is not None else {}, marks)
            if data is not None
            else [Problem(1, 1, "$", "manifest is empty; it needs at least description: and phase:")]
        )
    if problems:
        raise _manifest_error(display, problems)
    return _to_manifest(data)


def _manifest_error(display: str, problems: list[Problem]) -> ProjectError:
    n = len(problems)
    err = ProjectError(
        f"invalid manifest ({n} problem{'s' if n != 1 else ''})",
        where=display,
        details=[p.render(display) for p in problems],
        hint="see `sqlmig schema` for every key, or `sqlmig new` for a commented template",
    )
    err.problems = problems  # type: ignore[attr-defined]
    return err
