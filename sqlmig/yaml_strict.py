"""YAML for manifests: plain data plus the line and column of every key and value.

Manifests are small, reviewed files, so anything a reader could misread is refused
with its position instead of being interpreted: tabs, duplicate keys, anchors and
aliases (which also rules out alias bombs: aliases are found in the event stream,
before anything is expanded), explicit tags, a byte-order mark and non-UTF-8 bytes.
Keys are taken as written (`yes:` is the key 'yes', not true), and a bare date is
kept as the text it was (`description: 2024-05-01` is a string).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Path = tuple  # JSON path parts: str keys and int indexes


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest, at a YAML position and a JSON path."""

    line: int
    column: int
    path: str  # JSON path such as $.batch.size
    message: str

    def render(self, display: str) -> str:
        return f"{display}:{self.line}:{self.column}: {self.path}: {self.message}"


@dataclass
class Positions:
    """Where each key and value starts (1-based line, column), by JSON path parts."""

    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def key(self, parts: Path) -> tuple[int, int]:
        """Position of the key at `parts` (a list item: the item), else of its nearest ancestor."""
        for n in range(len(parts), -1, -1):
            sub = tuple(parts[:n])
            if sub in self.keys:
                return self.keys[sub]
        return (1, 1)

    def value(self, parts: Path) -> tuple[int, int]:
        """Position of the value at `parts`, else of its key or nearest ancestor."""
        return self.values.get(tuple(parts)) or self.key(parts)


_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: Path | list) -> str:
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif _SIMPLE_KEY.match(str(p)):
            out += f".{p}"
        else:
            out += "[" + repr(str(p)) + "]"
    return out


def decode(raw: bytes) -> tuple[str | None, list[Problem]]:
    """UTF-8 text of a manifest, refusing a byte-order mark and invalid bytes (with their position)."""
    problems: list[Problem] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        problems.append(Problem(1, 1, "$", "file starts with a byte-order mark (BOM); save it as UTF-8 without BOM"))
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), problems
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        problems.append(Problem(line, column, "$", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8 "
                                                   "(Latin-1 or Windows-1252?); save the file as UTF-8"))  # fmt: skip
        return None, problems


def _tab_problems(text: str) -> list[Problem]:
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        indent = raw[: len(raw) - len(raw.lstrip(" \t"))]
        if "\t" in indent:
            out.append(Problem(n, indent.index("\t") + 1, "$", "tab used for indentation; YAML needs spaces"))
    return out


def _syntax_problem(exc: Any) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = (exc.problem or str(exc)).strip()
    if "'\\t'" in problem:
        return Problem(line, col, "$", "tab character where YAML expects spaces; replace it with spaces")
    if "expected a single document" in (exc.context or ""):
        return Problem(line, col, "$", "more than one YAML document (a second ---); a manifest is one document")
    msg = f"{exc.context.strip()}: {problem}" if exc.context else problem
    return Problem(line, col, "$", f"invalid YAML: {msg}")


def _event_problems(text: str, loader: Any) -> list[Problem]:
    """Anchors, aliases and explicit tags, found in the event stream (nothing is expanded yet)."""
    import yaml

    out, aliases = [], []
    for ev in yaml.parse(text, Loader=loader):
        line, col = ev.start_mark.line + 1, ev.start_mark.column + 1
        if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None):
            aliases.append((line, col))
        elif getattr(ev, "tag", None) not in (None, "!"):
            tag = ev.tag.replace("tag:yaml.org,2002:", "!!")
            out.append(Problem(line, col, "$", f"YAML tag {tag} is not allowed in manifests; write a plain value"))
    if aliases:  # one problem, not one per alias: an alias bomb has thousands
        more = f" ({len(aliases)} anchors and aliases in this file)" if len(aliases) > 1 else ""
        out.append(Problem(*aliases[0], "$", "anchors and aliases (&name, *name) are not allowed in manifests; "
                                             f"write the value out{more}"))  # fmt: skip
    return sorted(out, key=lambda p: (p.line, p.column))


def _compose(text: str, loader: Any) -> tuple[list[Problem], Any]:
    import yaml

    # An anchor is written with `&`, an alias with `*` and a tag with `!`: text without any of them (most
    # manifests) has none to find, and is parsed once instead of twice. A syntax error still raises, from compose.
    problems = _event_problems(text, loader) if ("&" in text or "*" in text or "!" in text) else []
    return problems, (None if problems else yaml.compose(text, Loader=loader))


def load(text: str) -> tuple[Any, Positions, list[Problem]]:
    """Parse one YAML document into plain data (dict/list/str/int/float/bool/None) with positions.

    Returns (data, positions, problems); data is None when problems made it unreadable.
    An empty document (or only comments) gives data None and no problems.
    """
    import yaml

    positions = Positions()
    problems = _tab_problems(text)
    if problems:
        return None, positions, problems
    try:
        # libyaml when present (a project's manifests load ~10x faster); the pure-Python parser words the
        # errors, and refuses a tab after a colon, which libyaml accepts
        fast = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if "\t" not in text else yaml.SafeLoader
        try:
            problems, node = _compose(text, fast)
        except yaml.YAMLError:
            problems, node = _compose(text, yaml.SafeLoader)
        if problems:
            return None, positions, problems
    except yaml.MarkedYAMLError as exc:
        return None, positions, [_syntax_problem(exc)]
    except yaml.YAMLError as exc:
        return None, positions, [Problem(1, 1, "$", f"invalid YAML: {exc}")]
    if node is None:
        return None, positions, []
    constructor = yaml.SafeLoader("")
    try:
        data = _build(node, (), positions, problems, constructor)
    finally:
        constructor.dispose()  # its parser's state refers back to it: a cycle only the collector frees
    return data, positions, problems


def _at(n: Any) -> tuple[int, int]:
    return n.start_mark.line + 1, n.start_mark.column + 1


def _build(n: Any, path: Path, positions: Positions, problems: list[Problem], constructor: Any) -> Any:
    """A node as plain data, noting where each key and value is. A module function, not a closure: a
    recursive closure refers to itself, and every manifest read would leave a cycle for the collector
    (which `apply` and `plan` keep off while they start up, see sqlmig.cli.gcpause)."""
    import yaml

    positions.values[path] = _at(n)
    if isinstance(n, yaml.MappingNode):
        out: dict = {}
        for key_node, value_node in n.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(*_at(key_node), json_path(path), "a key must be a plain word, not a list "
                                                                         "or mapping"))  # fmt: skip
                continue
            key = key_node.value
            if key in out:
                first = positions.keys[(*path, key)][0]
                message = f"duplicate key '{key}' (first at line {first}); each key may appear once"
                problems.append(Problem(*_at(key_node), json_path((*path, key)), message))
                continue
            positions.keys[(*path, key)] = _at(key_node)
            out[key] = _build(value_node, (*path, key), positions, problems, constructor)
        return out
    if isinstance(n, yaml.SequenceNode):
        items = []
        for i, v in enumerate(n.value):
            positions.keys[(*path, i)] = _at(v)
            items.append(_build(v, (*path, i), positions, problems, constructor))
        return items
    if n.tag == "tag:yaml.org,2002:timestamp":
        return n.value  # a date in a description or owner is text
    return constructor.construct_object(n)
