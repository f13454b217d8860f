"""Running the rules over one file: statements in order, suppressions, per-rule configuration and severities.

Statement rules see each statement with the context of the statements before it; file rules
run after the last statement. A rule that needs sqlglot's parse tree skips the statements
sqlglot cannot parse (they still get every token-level rule). A crash inside one rule becomes
a finding naming the rule, never a traceback that hides every other finding.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmig import ddl
from sqlmig.errors import UsageError
from sqlmig.findings import Finding
from sqlmig.lint import suppress
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import SEVERITIES, Hit, Rule, all_rules, find_rule
from sqlmig.sql import Statement, parse_statement

DESTRUCTIVE_FAMILIES = ("compat", "destructive")  # downgraded in rollbacks that undo the forward file (SM502)


@dataclass(frozen=True)
class LintConfig:
    """Which rules run and at what severity, from [lint] in sqlmig.toml / [tool.sqlmig.lint]:

    enable = ["SM205"]          # opt-in rules to turn on
    disable = ["SM009", "combine-alter-table"]
    severity = { SM120 = "error" }
    """

    enabled: frozenset[str]
    severity: dict[str, str]

    @classmethod
    def from_settings(cls, settings: object) -> LintConfig:
        raw = dict(getattr(settings, "lint", None) or {})
        where = str(getattr(settings, "source_file", None) or "configuration")
        unknown = set(raw) - {"enable", "disable", "severity"}
        if unknown:
            raise UsageError(
                f"unknown key in [lint]: {', '.join(sorted(unknown))}",
                where=where,
                hint='[lint] takes enable = [...], disable = [...] and severity = {SM### = "…"}',
            )
        enabled = {r.id for r in all_rules() if r.default}
        enabled |= {_rule_id(k, where) for k in _as_list(raw.get("enable"), "enable", where)}
        enabled -= {_rule_id(k, where) for k in _as_list(raw.get("disable"), "disable", where)}
        severity = {}
        for key, value in dict(raw.get("severity") or {}).items():
            if value not in SEVERITIES:
                raise UsageError(
                    f"[lint] severity for {key} must be one of {', '.join(SEVERITIES)}, not {value!r}", where=where
                )
            severity[_rule_id(key, where)] = value
        return cls(frozenset(enabled), severity)


def _as_list(value: object, key: str, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f'[lint] {key} must be a list of rule ids, e.g. {key} = ["SM009"]', where=where)
    return value


def _rule_id(key: str, where: str) -> str:
    r = find_rule(key)
    if r is None:
        raise UsageError(
            f"[lint] names an unknown rule: {key}",
            where=where,
            hint="`sqlmig lint --list-rules` lists every rule id and name",
        )
    return r.id


def run_file(
    ctx: FileContext, text: str, config: LintConfig, *, verbose: bool = False, inverse: frozenset[int] = frozenset()
) -> list[Finding]:
    """Every finding for one file. `inverse`: indexes of rollback statements that undo a forward statement."""
    rules = [r for r in all_rules() if r.id in config.enabled]
    stmt_rules = [r for r in rules if r.scope == "statement"]
    ctx.text = text
    ctx.suppressions = suppress.parse(text, [(s.line, i) for i, s in enumerate(ctx.statements)])
    ctx.suppression_index = suppress.index(ctx.suppressions)
    ctx.enabled = config.enabled
    ctx.verbose = verbose
    ctx.skipped_tree = []
    out: list[Finding] = []
    for i, stmt in enumerate(ctx.statements):
        ctx.index = i
        a = ddl.describe(stmt)
        for r in stmt_rules:
            if r.kinds and a.kind not in r.kinds:
                continue
            if ctx.direction == "rollback" and i in inverse and r.family in DESTRUCTIVE_FAMILIES:
                continue
            if r.tree and parse_statement(stmt.text) is None:
                ctx.skipped_tree.append((stmt, r.id))
                continue
            out += _collect(r, ctx, stmt, lambda r=r, stmt=stmt, a=a: r.check(stmt, a, ctx), config)
        ctx.effects(stmt)  # fixed now, with what existed before it: file rules ask again later
        ctx.observe(stmt, a)
    ctx.index = len(ctx.statements)
    file_rules = sorted((r for r in rules if r.scope == "file"), key=lambda r: r.id == "SM506")  # hygiene last
    for r in file_rules:
        out += _collect(r, ctx, None, lambda r=r: r.check(ctx), config)
    return out


def _collect(r: Rule, ctx: FileContext, stmt: Statement | None, run, config: LintConfig) -> list[Finding]:
    try:
        hits = list(run())
    except Exception as exc:  # a rule bug must not hide the other findings
        where = stmt or (ctx.statements[0] if ctx.statements else None)
        return [
            Finding(
                r.id,
                "error",
                ctx.path,
                where.line if where else 1,
                f"internal error in rule {r.id} ({r.name}): {type(exc).__name__}: {exc}",
                "please report this with the statement; `-- sqlmig:disable-file "
                f"{r.id} <reason>` skips the rule meanwhile",
            )
        ]
    out = []
    for hit in hits:
        target = hit.stmt or (stmt if hit.line is None else None)
        index = ctx.position(target) if target is not None else None
        if hit.path is not None:
            index = None  # a finding in another file: only a disable-file here silences it
        if r.id != "SM506":
            used = suppress.covers(ctx.suppression_index, r.id, index)
            if used is not None:
                used.used.add(r.id)
                continue
        out.append(to_finding(r, hit, ctx.path, target, config))
    return out


def to_finding(r: Rule, hit: Hit, path: str, stmt: Statement | None, config: LintConfig) -> Finding:
    if stmt is not None:
        line, col = ddl.position(stmt, hit.pos or 0)
    else:
        line, col = hit.line or 1, 1
    severity = config.severity.get(r.id) or hit.severity or r.severity
    return Finding(r.id, severity, hit.path or path, line, hit.message, hit.hint, col)
