"""The rule registry: `@rule(...)` on a function is the only place a rule is registered.

A rule is one function plus its metadata. Its docstring *is* `sqlmig lint --explain`, written
under ruff's headings (What it does / Why is this bad / Example / Use instead / Known problems).
Ids (`SM###`) and names are stable forever; a renamed rule keeps its old name as an alias.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")
FAMILIES = (
    "rewrite",
    "constraint",
    "index",
    "partition",
    "transaction",
    "operational",
    "compat",
    "destructive",
    "data",
    "design",
    "project",
)


@dataclass(frozen=True)
class Hit:
    """What a rule found. `pos` is an offset in the statement's text; `severity` overrides the rule's for this hit."""

    message: str
    hint: str | None = None
    pos: int | None = None
    stmt: Any = None  # file-scope rules name the statement they point at
    severity: str | None = None
    path: str | None = None  # another file of the same migration (reversibility points at the forward file)
    line: int | None = None  # a line without a statement (a suppression comment, a line in another file)


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: str
    summary: str
    family: str
    check: Callable[..., Iterable[Hit]]
    scope: str = "statement"  # "statement": check(stmt, anatomy, ctx); "file": check(ctx)
    default: bool = True  # False: opt-in, enabled with [lint] enable = ["SM###"]
    tree: bool = False  # needs sqlglot's parse tree; skipped for statements sqlglot cannot parse
    aliases: tuple[str, ...] = ()
    kinds: frozenset[str] = frozenset()  # statement kinds it looks at (empty: every statement)
    explanation: str = field(default="", repr=False)

    @property
    def module(self) -> str:
        return self.check.__module__


RULES: dict[str, Rule] = {}


def rule(
    id: str,
    name: str,
    severity: str,
    summary: str,
    *,
    family: str,
    scope: str = "statement",
    default: bool = True,
    tree: bool = False,
    aliases: tuple[str, ...] = (),
    kinds: tuple[str, ...] | frozenset[str] = (),
) -> Callable:
    """Register the decorated function as a lint rule. `kinds` (e.g. ("ALTER TABLE",)) lets the engine skip
    statements the rule never looks at without calling it; it is what keeps linting 1,000 files fast."""
    if severity not in SEVERITIES or family not in FAMILIES or scope not in ("statement", "file"):
        raise ValueError(f"{id}: bad severity, family or scope")

    def register(fn: Callable) -> Callable:
        if id in RULES:
            raise ValueError(f"rule id {id} registered twice ({RULES[id].module} and {fn.__module__})")
        RULES[id] = Rule(
            id, name, severity, summary, family, fn, scope, default, tree, aliases, frozenset(kinds),
            inspect.cleandoc(fn.__doc__ or ""),
        )  # fmt: skip
        return fn

    return register


def all_rules() -> list[Rule]:
    """Every registered rule, by id (importing the rule modules registers them)."""
    import sqlmig.lint.rules  # noqa: F401  (registers)

    return [RULES[k] for k in sorted(RULES)]


def find_rule(key: str) -> Rule | None:
    """A rule by id (`SM050`, any case) or by name or alias (`create-index-not-concurrent`)."""
    all_rules()
    key = key.strip()
    if key.upper() in RULES:
        return RULES[key.upper()]
    for r in RULES.values():
        if key.lower() == r.name or key.lower() in r.aliases:
            return r
    return None
