"""`sqlmig lint`: rules that know PostgreSQL's locks, run on migration SQL without a database.

- `lint_paths(paths, settings)`: files and folders, with each migration's manifest and the schema
  replayed from earlier migrations (sqlmig.lint.files).
- `lint_sql(text, …)`: one piece of SQL with whatever context the caller gives (tests, editors).
- Rules are registered with `@rule` in sqlmig/lint/rules/ (sqlmig.lint.registry); their docstrings
  are `sqlmig lint --explain`.
"""

from __future__ import annotations

from typing import Any

from sqlmig.findings import Finding
from sqlmig.lint.files import LintReport, lint_paths


def lint_sql(
    text: str,
    path: str = "<sql>",
    *,
    settings: Any = None,
    manifest: Any = None,
    history: str = "",
    forward: str | None = None,
    verbose: bool = False,
    enable: tuple[str, ...] = (),
) -> list[Finding]:
    """Lint one piece of SQL.

    `manifest`: a Manifest, which makes the SQL a project migration (or a rollback, with `forward`);
    `history`: SQL of earlier migrations, replayed into the schema model first; `forward`: the forward
    migration's SQL, which makes `text` its rollback and turns on the reversibility proof (SM501);
    `enable`: opt-in rule ids to turn on.
    """
    from dataclasses import replace

    from sqlmig import ddl
    from sqlmig.config import Settings
    from sqlmig.lint.context import FileContext, MigrationPair
    from sqlmig.lint.engine import LintConfig, run_file
    from sqlmig.lint.schema import SchemaModel
    from sqlmig.reversibility import undoing_statements
    from sqlmig.sql import split_statements

    settings = settings or Settings()
    config = LintConfig.from_settings(settings)
    if enable:
        config = replace(config, enabled=config.enabled | set(enable))
    model = SchemaModel()
    for stmt in split_statements(history, "<history>"):
        model.apply(ddl.describe(stmt))
    statements = split_statements(text, path)
    if forward is None:
        direction = "up" if manifest is not None else "file"
        ctx = FileContext(path, statements, settings, direction, manifest, model.fork())
        return run_file(ctx, text, config, verbose=verbose)
    fwd = split_statements(forward, "<forward>")
    after = model.fork()
    for stmt in fwd:
        after.apply(ddl.describe(stmt))
    pair = MigrationPair(fwd, statements, manifest, "<forward>", path, model, text)
    ctx = FileContext(path, statements, settings, "rollback", manifest, after.fork(), forward=fwd, pair=pair)
    return run_file(ctx, text, config, verbose=verbose, inverse=frozenset(undoing_statements(fwd, statements)))


__all__ = ["LintReport", "lint_paths", "lint_sql"]
