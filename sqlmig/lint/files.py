"""Which files to lint and with what context: a project's migrations and rollbacks, or loose SQL files.

A file in a project's migrations/ or rollback/ folder is linted with its manifest (same stem)
and a schema model replayed from the earlier migrations. Only the earlier files that mention
a name the linted files use are replayed, so one file in a large project lints quickly. A file
anywhere else is linted on its own. An invalid manifest never stops lint: the SQL is linted
without manifest context and one info finding says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmig import ddl
from sqlmig.errors import ProjectError, UsageError
from sqlmig.findings import Finding
from sqlmig.lint.context import FileContext, MigrationPair
from sqlmig.lint.engine import LintConfig, run_file
from sqlmig.lint.schema import SchemaModel
from sqlmig.sql import SqlFile, Statement


@dataclass
class LintReport:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    statements: int = 0
    invalid: bool = False  # a file could not be read or split: exit 2


@dataclass
class _Migration:
    version: int
    stem: str
    up: Path
    rollback: Path | None
    manifest: Path | None


def display(path: Path) -> str:
    """A path as findings show it: relative to the working directory when under it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def lint_paths(paths: list[Path], settings: Any, *, verbose: bool = False) -> LintReport:
    """Lint files and folders (default: the project's migrations and rollbacks)."""
    config = LintConfig.from_settings(settings)
    report = LintReport()
    targets = _expand(paths, settings)
    by_root: dict[Path, list[Path]] = {}
    loose: list[Path] = []
    for path in targets:
        root = _project_root(path)
        (by_root.setdefault(root, []) if root else loose).append(path)
    for root, files in sorted(by_root.items()):
        root_settings = settings if root == Path(settings.project_dir).resolve() else _settings_for(root, settings)
        _lint_project_files(root, files, root_settings, config, verbose, report)
    for path in loose:
        _lint_one(path, settings, config, verbose, report, direction="file")
    return report


def _expand(paths: list[Path], settings: Any) -> list[Path]:
    if not paths:
        found = [p for d in (settings.migrations_dir, settings.rollback_dir) if d.is_dir() for p in d.glob("*.sql")]
        if not found and not settings.migrations_dir.is_dir():
            raise UsageError(
                f"no migrations/ folder in {Path(settings.project_dir).resolve()}",
                hint="pass SQL files or folders to lint, or --project DIR",
            )
        return sorted(p.resolve() for p in found)
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            sub = [p / "migrations", p / "rollback"] if (p / "migrations").is_dir() else [p]
            out += sorted(f.resolve() for d in sub if d.is_dir() for f in d.rglob("*.sql"))
        elif p.is_file():
            out.append(p.resolve())
        else:
            raise UsageError(f"no such file or folder: {p}")
    return list(dict.fromkeys(out))


def _project_root(path: Path) -> Path | None:
    """The project folder of a file in <root>/migrations or <root>/rollback (with <root>/manifests beside them)."""
    from sqlmig.project import NAME_RE

    folder, root = path.parent, path.parent.parent
    if folder.name in ("migrations", "rollback") and (root / "migrations").is_dir() and NAME_RE.match(path.stem):
        return root
    return None


def _settings_for(root: Path, fallback: Any) -> Any:
    from sqlmig.config import load_settings

    try:
        return load_settings(root)
    except UsageError:
        return fallback


def _index(root: Path) -> list[_Migration]:
    from sqlmig.project import NAME_RE

    out = []
    for up in (root / "migrations").glob("*.sql"):
        m = NAME_RE.match(up.stem)
        if not m:
            continue
        rollback = root / "rollback" / up.name
        manifest = root / "manifests" / f"{up.stem}.yaml"
        out.append(
            _Migration(
                int(m["version"]),
                up.stem,
                up.resolve(),
                rollback.resolve() if rollback.is_file() else None,
                manifest if manifest.is_file() else None,
            )
        )
    return sorted(out, key=lambda m: (m.version, m.stem))


def _read(path: Path, report: LintReport) -> tuple[SqlFile, list[Statement]] | None:
    sql = SqlFile(path=path, raw=b"", display=display(path))
    try:
        sql = SqlFile.read(path, display(path))
        return sql, sql.statements
    except (OSError, ProjectError) as exc:
        where = getattr(exc, "where", None) or sql.display
        at = re.search(r":(\d+)(?::(\d+))?$", where)  # path:line or path:line:column
        line, column = (int(at[1]), int(at[2] or 1)) if at else (1, 1)
        message = getattr(exc, "message", None) or str(exc)
        report.findings.append(
            Finding(
                "lint/syntax",
                "error",
                sql.display,
                line,
                f"cannot lint this file: {message}",
                getattr(exc, "hint", None),
                column,
            )
        )
        report.invalid = True
        return None


def _manifest(m: _Migration, report: LintReport, linted: Path) -> Any:
    if m.manifest is None:
        return None
    from sqlmig.manifest import parse_manifest

    try:
        return parse_manifest(m.manifest.read_bytes(), display(m.manifest))
    except (OSError, ProjectError) as exc:
        first = (getattr(exc, "details", None) or [str(exc)])[0]
        report.findings.append(
            Finding(
                "lint/manifest",
                "info",
                display(linted),
                1,
                f"linted without manifest context: {display(m.manifest)} is invalid ({first})",
                "`sqlmig check` reports every manifest problem",
            )
        )
        return None


def _lint_project_files(
    root: Path, files: list[Path], settings: Any, config: LintConfig, verbose: bool, report: LintReport
) -> None:
    wanted = set(files)
    migrations = _index(root)
    last = max((m.version for m in migrations if m.up in wanted or m.rollback in wanted), default=-1)
    every = all(m.up in wanted for m in migrations if m.version <= last)
    names = None if every else _names_used(files, report)
    model = SchemaModel()  # the schema before migration m
    for m in migrations:
        if m.version > last:
            break
        up_in, down_in = m.up in wanted, m.rollback is not None and m.rollback in wanted
        if not (up_in or down_in):
            _replay(m.up, model, names)
            continue
        manifest = _manifest(m, report, m.up if up_in else m.rollback)
        forward = _read(m.up, report)
        down = _read(m.rollback, report) if m.rollback else None
        up_display = forward[0].display if forward else display(m.up)
        down_display = down[0].display if down else display(root / "rollback" / f"{m.stem}.sql")
        pair = MigrationPair(
            forward[1] if forward else [],
            down[1] if down else None,
            manifest,
            up_display,
            down_display,
            model,
            down[0].text if down else None,
        )
        after = model.fork()
        if up_in and forward:
            _run(
                FileContext(forward[0].display, forward[1], settings, "up", manifest, after, pair=pair),
                forward[0],
                config,
                verbose,
                report,
            )
        elif forward:
            for stmt in forward[1]:
                after.apply(ddl.describe(stmt))
        if down_in and down:
            ctx = FileContext(
                down[0].display,
                down[1],
                settings,
                "rollback",
                manifest,
                after.fork(),
                forward=forward[1] if forward else None,
                pair=None if up_in else pair,
            )
            _run(ctx, down[0], config, verbose, report)
        model.absorb(after)


def _run(ctx: FileContext, sql: SqlFile, config: LintConfig, verbose: bool, report: LintReport) -> None:
    inverse: frozenset[int] = frozenset()
    if ctx.direction == "rollback" and ctx.forward:
        from sqlmig.reversibility import undoing_statements

        inverse = frozenset(undoing_statements(ctx.forward, ctx.statements))
    report.findings += run_file(ctx, sql.text, config, verbose=verbose, inverse=inverse)
    report.files += 1
    report.statements += len(ctx.statements)


def _lint_one(
    path: Path, settings: Any, config: LintConfig, verbose: bool, report: LintReport, *, direction: str
) -> None:
    got = _read(path, report)
    if got is None:
        report.files += 1
        return
    sql, statements = got
    _run(FileContext(sql.display, statements, settings, direction), sql, config, verbose, report)


def _names_used(files: list[Path], report: LintReport) -> set[str]:
    """Lower-case bare names of the relations and types the linted files mention: what replay must know."""
    names: set[str] = set()
    for path in files:
        try:
            statements = SqlFile.read(path, str(path)).statements
        except (OSError, ProjectError):
            continue
        for stmt in statements:
            a = ddl.describe(stmt)
            for n in (a.object, a.table, a.parent, *a.objects, *a.reads):
                if n:
                    names.add(n.rsplit(".", 1)[-1].lower())
            for act in a.actions:
                for n in (act.name, act.coldef.type.split("(")[0] if act.coldef else None, act.type):
                    if n:
                        names.add(n.rsplit(".", 1)[-1].lower())
    return names


def _replay(path: Path, model: SchemaModel, names: set[str] | None) -> None:
    """Apply an earlier migration to the model (skipped when it mentions none of `names`)."""
    try:
        raw = path.read_bytes()
        if names is not None:
            low = raw.decode("utf-8", "replace").lower()
            if not any(n in low for n in names):
                return
        statements = SqlFile(path=path, raw=raw, display=str(path)).statements
    except (OSError, ProjectError):
        return
    for stmt in statements:
        model.apply(ddl.describe(stmt))
