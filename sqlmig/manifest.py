"""Manifest: what a migration declares. YAML in, validated against manifest.schema.json, a frozen dataclass out.

Errors name the file, the YAML line and column, the JSON path, and say in plain words
what is wrong; all of them at once. The YAML itself is read by sqlmig.yaml_strict,
which refuses what a reviewer could misread (tabs, duplicate keys, anchors and aliases,
tags, a BOM, non-UTF-8). Beyond the schema, values are checked against each other
(batch sizes) and against PostgreSQL's limits (durations).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlmig.errors import ProjectError
from sqlmig.yaml_strict import Positions, Problem, decode, json_path, load

__all__ = ["Batch", "Manifest", "PointOfNoReturn", "Problem", "interval_ms", "parse_manifest", "schema", "validate"]


@dataclass(frozen=True)
class PointOfNoReturn:
    reason: str
    backup: str | None = None  # "required" when apply must take a pg_dump first


@dataclass(frozen=True)
class Batch:
    """The batch strategy; field names are read by the batch runner (keep them stable)."""

    table: str
    key: tuple[str, ...] | None = None  # None: the primary key
    size: int = 1000
    min_size: int = 100
    max_size: int = 50000
    target_ms: int = 50
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
    positions: Positions = field(default_factory=Positions, compare=False, repr=False)

    @property
    def transactional(self) -> bool:
        return self.transaction == "per-migration"

    def line_of(self, *parts: str | int) -> int:
        """The YAML line of a key (e.g. line_of('batch', 'table')), or of its nearest ancestor; 1 if unknown."""
        return self.positions.key(parts)[0]


@cache
def schema() -> dict:
    """The manifest JSON Schema shipped in the package (Draft 2020-12)."""
    from importlib import resources  # imported here: 3 ms at start-up, needed only when validating

    return json.loads(resources.files("sqlmig").joinpath("manifest.schema.json").read_text("utf-8"))


# ---------------------------------------------------------------- durations

_INTERVAL = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s|min|h|d)?\s*$")
_UNIT_MS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000, None: 1}
PG_MAX_TIMEOUT_MS = 2_147_483_647  # lock_timeout and statement_timeout are int4 milliseconds


def interval_ms(value: Any) -> float | None:
    """A manifest duration in milliseconds (integers are milliseconds), or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value)
    m = _INTERVAL.match(str(value))
    return float(m[1]) * _UNIT_MS[m[2]] if m else None


def normalize_interval(value: Any) -> str | None:
    """A manifest duration as PostgreSQL's SET understands it: integers are milliseconds."""
    if value is None:
        return None
    if isinstance(value, int):
        return f"{value}ms"
    return str(value).replace(" ", "")


# ---------------------------------------------------------------- schema errors in plain words

_TYPE_NAMES = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
               "array": "a list", "object": "a mapping (key: value)", "null": "nothing"}  # fmt: skip
_DURATION_ADVICE = "write milliseconds as a number, or a string such as '5s', '500ms', '2min'"


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


def _messages(error: Any) -> list[tuple[list[Any], str]]:
    """(JSON path parts, plain message) for one jsonschema error; several for several unknown keys."""
    path = list(error.absolute_path)
    v = error.validator
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        out = []
        for key in [k for k in error.instance if k not in allowed]:
            import difflib

            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
            out.append(([*path, key], f"unknown key '{key}'; {hint}"))
        return out
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [(path, f"missing required key '{missing}'")]
    return [(path, _message(error))]


def _message(error: Any) -> str:
    v, inst, expected = error.validator, error.instance, error.validator_value
    if v == "enum":
        import difflib

        close = difflib.get_close_matches(str(inst), [str(o) for o in expected], n=1)
        tip = f"; did you mean '{close[0]}'?" if close else ""
        return f"{_describe(inst)} is not one of: {', '.join(map(str, expected))}{tip}"
    if v == "type":
        expected = expected if isinstance(expected, list) else [expected]
        return f"expected {' or '.join(_TYPE_NAMES.get(t, t) for t in expected)}, got {_describe(inst)}"
    if v == "oneOf":
        return _one_of_message(error)
    if v == "pattern":
        if expected == "^[0-9]+$":
            return f"{_describe(inst)} is not a version (digits only, e.g. '00001')"
        return f"{_describe(inst)} does not match {expected}"
    if v == "minimum":
        return f"{_describe(inst)} is too small (minimum {expected})"
    if v == "exclusiveMinimum":
        return f"{_describe(inst)} is too small (must be more than {expected})"
    if v == "maximum":
        return f"{_describe(inst)} is too large (maximum {expected})"
    if v == "minLength":
        return "must not be empty"
    if v == "minItems":
        return "must list at least one item"
    if v == "uniqueItems":
        return "lists the same item twice"
    return error.message


def _one_of_message(error: Any) -> str:
    """oneOf failures: name the alternatives instead of dumping each branch's error."""
    field_name = str(error.absolute_path[-1]) if error.absolute_path else ""
    inst = error.instance
    if field_name == "point_of_no_return":
        if isinstance(inst, dict):
            sub = [e for e in error.context if e.validator in ("required", "additionalProperties", "enum", "type")]
            if sub:
                return _messages(sorted(sub, key=lambda e: e.validator)[0])[0][1]
        return f"{_describe(inst)} is not valid; write false, a reason string, or {{reason: ..., backup: required}}"
    if field_name in ("lock_timeout", "statement_timeout"):
        return f"{_describe(inst)} is not a duration; {_DURATION_ADVICE}"
    if field_name == "verify":
        return "write one SQL query as a string, or a list of queries"
    if field_name == "key":
        return "write a column name, or a list of column names"
    best = min(error.context, key=lambda e: len(list(e.absolute_path)), default=None)
    return _message(best) if best is not None else error.message


@cache
def _validator() -> Any:
    """One validator for every manifest read: building it costs as much as validating a manifest."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def _schema_problems(data: dict, positions: Positions) -> list[Problem]:
    found: list[tuple[list[Any], str, str]] = []  # (parts, message, validator)
    for err in _validator().iter_errors(data):
        found += [(parts, msg, err.validator) for parts, msg in _messages(err)]
    # A misspelt required key shows once, as the unknown key with its suggestion.
    suggested = {(tuple(p[:-1]), m.split("'")[3]) for p, m, v in found if v == "additionalProperties" and "mean" in m}
    problems = []
    for parts, msg, v in found:
        if v == "required" and (tuple(parts), msg.split("'")[1]) in suggested:
            continue
        where = positions.key(parts) if v in ("additionalProperties", "required") else positions.value(parts)
        problems.append(Problem(*where, json_path(parts), msg))
    return problems


def _value_problems(data: dict, positions: Positions) -> list[Problem]:
    """What the schema cannot say: durations within PostgreSQL's limit, batch sizes in order."""
    out = []
    for key in ("lock_timeout", "statement_timeout"):
        ms = interval_ms(data.get(key)) if key in data else None
        if ms is not None and ms > PG_MAX_TIMEOUT_MS:
            out.append(Problem(*positions.value((key,)), json_path((key,)),
                               f"{_describe(data[key])} is too long; PostgreSQL allows at most "
                               f"{PG_MAX_TIMEOUT_MS} ms (about 24 days)"))  # fmt: skip
    batch = data.get("batch")
    if isinstance(batch, dict):
        sizes = {k: batch[k] for k in ("min_size", "size", "max_size") if isinstance(batch.get(k), int)}
        for low, high in (("min_size", "size"), ("size", "max_size"), ("min_size", "max_size")):
            if low in sizes and high in sizes and sizes[low] > sizes[high]:
                out.append(Problem(*positions.value(("batch", low)), json_path(("batch", low)),
                                   f"{sizes[low]} is more than {high} ({sizes[high]}); "
                                   "min_size <= size <= max_size"))  # fmt: skip
    return out


def validate(data: Any, positions: Positions) -> list[Problem]:
    """Every schema and value problem, sorted by position."""
    if not isinstance(data, dict):
        return [Problem(1, 1, "$", f"a manifest is a mapping of keys (description:, phase:, …), got {_describe(data)}")]
    problems = _schema_problems(data, positions)
    if not problems:
        problems = _value_problems(data, positions)
    return sorted(set(problems), key=lambda p: (p.line, p.column, p.path))


# ---------------------------------------------------------------- data -> Manifest


def _to_batch(batch: dict | None) -> Batch | None:
    if not batch:
        return None
    key = batch.get("key")
    values = {**batch, "key": (key,) if isinstance(key, str) else (tuple(key) if key else None)}
    size = values.get("size", Batch.size)
    # Unstated bounds widen to include the stated size, so `size: 50` alone is valid as written.
    values.setdefault("min_size", min(Batch.min_size, size))
    values.setdefault("max_size", max(Batch.max_size, size))
    return Batch(**values)


def _to_manifest(data: dict, positions: Positions) -> Manifest:
    ponr = data.get("point_of_no_return", False)
    if isinstance(ponr, str):
        ponr_obj: PointOfNoReturn | None = PointOfNoReturn(reason=ponr)
    elif isinstance(ponr, dict):
        ponr_obj = PointOfNoReturn(reason=ponr["reason"], backup=ponr.get("backup"))
    else:
        ponr_obj = None
    verify = data.get("verify", ())
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
        batch=_to_batch(data.get("batch")),
        raw=data,
        positions=positions,
    )


def from_validated(data: dict, positions: Positions) -> Manifest:
    """A Manifest from data that passed `validate` before (sqlmig.manifest_cache keeps such data)."""
    return _to_manifest(data, positions)


def read_manifest(raw: bytes) -> tuple[Manifest | None, list[Problem]]:
    """Bytes of a manifest -> (Manifest or None, every problem found). Never raises for bad input."""
    text, problems = decode(raw)
    if text is None:
        return None, problems
    data, positions, yaml_problems = load(text)
    problems += yaml_problems
    if yaml_problems:
        return None, problems
    if data is None:
        return None, [*problems, Problem(1, 1, "$", "manifest is empty; it needs at least description: and phase:")]
    problems += validate(data, positions)
    if problems:
        return None, problems
    return _to_manifest(data, positions), []


def parse_manifest(raw: bytes, display: str) -> Manifest:
    """Bytes of a manifest file -> Manifest, or ProjectError listing every problem found."""
    manifest, problems = read_manifest(raw)
    if manifest is None:
        n = len(problems)
        err = ProjectError(
            f"invalid manifest ({n} problem{'s' if n != 1 else ''})",
            where=display,
            details=[p.render(display) for p in problems],
            hint="see `sqlmig schema` for every key, or `sqlmig new` for a commented template",
        )
        err.problems = problems  # type: ignore[attr-defined]
        raise err
    return manifest
