"""Two schema snapshots -> the differences, in lines a person can read.

`compare(expected, actual)` says how `actual` differs from `expected`:
"column items.price: default 0 → 5", "index items_sku_idx: missing",
"enum mood: value 'happy' added". A column that only moved (dropped and re-added at the
end of the table) is a warning, not an error: the schema works the same, but `SELECT *`
and COPY without a column list see a different order.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from sqlmig.fingerprint import Snapshot

# Kinds in the order a reader expects them (containers before their contents).
KIND_ORDER = ("schema", "extension", "enum", "domain", "composite type", "range type", "sequence", "table",
              "foreign table", "column", "constraint", "index", "view", "materialized view", "function",
              "procedure", "aggregate", "window function", "trigger", "rule", "policy", "statistics")  # fmt: skip
# List attributes compared item by item, and how one item is called.
_ITEMS = {"values": "value", "grants": "privilege", "constraints": "constraint", "attributes": "attribute",
          "config": "setting", "options": "option", "roles": "role"}  # fmt: skip
# What an attribute left out of a snapshot means (flags are stored only when set).
_ABSENT = {"state": "enabled"} | dict.fromkeys(
    ("not_null", "unlogged", "row_level_security", "force_row_level_security", "invalid", "clustered", "cycle",
     "strict", "security_definer", "leakproof"), "no")  # fmt: skip
_SHORT = 60  # longer values are shown on lines of their own
_MAX_DETAIL = 12


@dataclass(frozen=True)
class Change:
    """One difference: `actual` lacks, adds or alters one object or one of its attributes."""

    kind: str
    name: str
    what: str  # "missing", "added", or the attribute that differs
    message: str  # the readable line, e.g. "column items.price: default 0 → 5"
    severity: str = "error"  # "warning" for differences that leave the schema working the same
    detail: tuple[str, ...] = ()  # extra lines (a diff of a function body, both long definitions)

    def render(self) -> str:
        return "\n".join([self.message, *(f"    {d}" for d in self.detail)])

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "what": self.what, "message": self.message,
                "severity": self.severity, "detail": list(self.detail)}  # fmt: skip


def _show(value: Any, attr: str = "") -> str:
    if value is None:
        return _ABSENT.get(attr, "(none)")
    if attr == "comment":
        return repr(value)
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


def _summary(kind: str, attrs: dict) -> str:
    """A short description of an added object, when it has one (a column's type, an index's definition)."""
    text = attrs.get("type") if kind == "column" else attrs.get("definition")
    if not text:
        return ""
    text = " ".join(str(text).split())
    return f" ({text[: _SHORT * 2]}{'…' if len(text) > _SHORT * 2 else ''})"


def _text_diff(expected: str, actual: str) -> tuple[str, ...]:
    lines = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(), "expected", "actual",
                                      n=1, lineterm=""))[2:]  # fmt: skip
    if len(lines) > _MAX_DETAIL:  # keep both ends: the removed lines come first, the added ones last
        half = _MAX_DETAIL // 2
        lines = [*lines[:half], f"… {len(lines) - 2 * half} more diff lines …", *lines[-half:]]
    return tuple(lines)


def _attribute_changes(kind: str, name: str, attr: str, expected: Any, actual: Any) -> list[Change]:
    label = attr.replace("_", " ")
    head = f"{kind} {name}"
    if attr in _ITEMS and (isinstance(expected, list) or isinstance(actual, list)):
        exp, act = expected or [], actual or []
        item = _ITEMS[attr]
        out = [Change(kind, name, attr, f"{head}: {item} {v!r} added") for v in act if v not in exp]
        out += [Change(kind, name, attr, f"{head}: {item} {v!r} missing") for v in exp if v not in act]
        if not out:  # same items, another order
            out.append(Change(kind, name, attr, f"{head}: {label} in another order: {_show(exp)} → {_show(act)}"))
        return out
    exp_s, act_s = _show(expected, attr), _show(actual, attr)
    if "\n" in exp_s or "\n" in act_s:
        return [Change(kind, name, attr, f"{head}: {label} changed", detail=_text_diff(exp_s, act_s))]
    if len(exp_s) > _SHORT or len(act_s) > _SHORT or attr in ("body", "definition"):
        return [Change(kind, name, attr, f"{head}: {label} changed",
                       detail=(f"expected: {exp_s}", f"actual:   {act_s}"))]  # fmt: skip
    return [Change(kind, name, attr, f"{head}: {label} {exp_s} → {act_s}")]


def _column_order(name: str, expected: list[str], actual: list[str]) -> list[Change]:
    """A warning when the columns both sides have stand in another order."""
    common = set(expected) & set(actual)
    exp = [c for c in expected if c in common]
    act = [c for c in actual if c in common]
    if exp == act:
        return []
    return [Change("table", name, "column order", f"table {name}: column order ({', '.join(exp)}) → "
                   f"({', '.join(act)})", severity="warning")]  # fmt: skip


def compare(expected: Snapshot, actual: Snapshot) -> list[Change]:
    """Every difference of `actual` from `expected`, containers first, then by name."""
    changes: list[Change] = []
    kinds = sorted(set(expected) | set(actual), key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k))
    for kind in kinds:
        exp_objs, act_objs = expected.get(kind, {}), actual.get(kind, {})
        for name in sorted(set(exp_objs) | set(act_objs)):
            if name not in act_objs:
                changes.append(Change(kind, name, "missing", f"{kind} {name}: missing"))
                continue
            if name not in exp_objs:
                changes.append(Change(kind, name, "added", f"{kind} {name}: added{_summary(kind, act_objs[name])}"))
                continue
            exp_attrs, act_attrs = exp_objs[name], act_objs[name]
            if exp_attrs == act_attrs:
                continue
            for attr in sorted(set(exp_attrs) | set(act_attrs)):
                e, a = exp_attrs.get(attr), act_attrs.get(attr)
                if e == a:
                    continue
                if attr == "columns":
                    changes += _column_order(name, e or [], a or [])
                else:
                    changes += _attribute_changes(kind, name, attr, e, a)
    return changes


def errors(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.severity == "error"]
