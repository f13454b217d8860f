"""Migration-level rules: the manifest against its SQL, the rollback against the forward file, the suppressions,
and what lint could not analyse."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmig import ddl, postgres
from sqlmig.lint.context import FileContext
from sqlmig.lint.registry import RULES, Hit, rule
from sqlmig.lint.rules.common import hit
from sqlmig.sql import foreign_markers, parse_statement


@rule(
    "SM500",
    "manifest-tx-mode-mismatch",
    "warning",
    "transaction: none where no statement needs it",
    family="project",
    scope="file",
)
def manifest_tx_mode_mismatch(ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags a migration whose manifest says `transaction: none` although none of its statements needs to
    run outside a transaction (the opposite case, a statement that cannot run in one in a
    `per-migration` migration, is SM100).

    ## Why is this bad
    The migration gives up atomicity for nothing: a failure halfway leaves it half applied.

    ## Example
    ```yaml
    transaction: none      # for: ALTER TABLE users ADD COLUMN plan text;
    ```

    ## Use instead
    Remove `transaction: none` (the default is `per-migration`).

    ## Known problems
    A DO block or CALL that commits needs `transaction: none`; they are taken as needing it.
    """
    if ctx.direction != "up" or ctx.manifest is None or ctx.manifest.transactional or not ctx.statements:
        return
    if getattr(ctx.manifest, "batch", None) is not None:
        return
    for stmt in ctx.statements:
        if postgres.not_in_transaction_reason(stmt, pg_version=ctx.pg) or stmt.keywords[:1] in (("DO",), ("CALL",)):
            return
    yield hit(
        "the manifest says transaction: none, but no statement here needs to run outside a transaction",
        "remove transaction: none so the migration is all-or-nothing",
        stmt=ctx.statements[0],
    )


@rule(
    "SM501",
    "rollback-not-inverse",
    "error",
    "The rollback does not undo the forward migration",
    family="project",
    scope="file",
    aliases=("rollback-missing-or-not-inverse",),
)
def rollback_not_inverse(ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Proves statically that the rollback file undoes its forward file: for every object the forward SQL
    creates, drops, renames or alters (tables, columns, indexes, constraints, views, functions, triggers,
    types, sequences, extensions, policies, grants), a rollback statement reverses it; and the rollback
    runs in an order PostgreSQL accepts (a view before the table it reads, a trigger before its function,
    a referencing table before the one it references). Data changes (UPDATE, DELETE, INSERT) cannot be
    proven: a warning, or info when the rollback changes the same table and columns. A migration that
    declares `point_of_no_return` is exempt (info). Rollback statements that undo the forward file are
    not reported by the destructive and compatibility rules (SM2xx): dropping the column the forward
    file added is the point of a rollback (catalogue id SM502).

    ## Why is this bad
    A rollback that misses something fails or leaves the schema different from before, and you learn
    it during an incident.

    ## Example
    ```sql
    -- migrations/0007_add_email_verified.sql
    ALTER TABLE users ADD COLUMN email_verified boolean;
    -- rollback/0007_add_email_verified.sql
    SELECT 1;
    ```
    "forward adds column users.email_verified; rollback never drops it"

    ## Use instead
    ```sql
    ALTER TABLE users DROP COLUMN email_verified;
    ```

    ## Known problems
    A rollback that restores an object's exact previous definition (a default, a function body) is
    checked for the statement, not the definition: `sqlmig verify` proves that on a real database.
    """
    if ctx.pair is None:
        return
    from sqlmig.reversibility import captured_table, prove

    p = ctx.pair
    pnr = getattr(p.manifest, "point_of_no_return", None)
    at_line = {s.line: s for s in reversed(ctx.statements)}  # the first statement of each line
    for f in prove(
        p.forward,
        p.rollback,
        forward_path=p.up_path,
        rollback_path=p.down_path,
        model=p.model,
        point_of_no_return=pnr.reason if pnr else None,
        captured=captured_table(p.manifest, p.rollback_text),
    ):
        own = f.path == ctx.path
        stmt = at_line.get(f.line) if own else None
        yield Hit(
            f.message,
            f.hint,
            stmt=stmt,
            severity=f.severity,
            path=None if own else f.path,
            line=None if stmt else f.line,
        )


def _section(marker: str) -> str | None:
    low = marker.lower()
    return "down" if low.endswith("down") else "up" if low.endswith("up") else None


@rule(
    "SM508",
    "foreign-migration-markers",
    "error",
    "goose, sql-migrate or dbmate section markers: sqlmig runs the whole file",
    family="project",
    scope="file",
)
def foreign_migration_markers(ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Finds the section markers other tools write into one migration file: goose's `-- +goose Up`,
    `-- +goose Down`, `-- +goose StatementBegin/StatementEnd`, `-- +goose NO TRANSACTION`, sql-migrate's
    `-- +migrate Up/Down`, dbmate's `-- migrate:up` / `-- migrate:down`. An error when a forward (or loose)
    file holds a down section, or a rollback file an up section; a warning for the other markers. Sqitch's
    `-- Deploy` / `-- Revert` headers are plain comments and are not reported.

    ## Why is this bad
    To sqlmig they are comments: it runs the whole file, so the down section of a goose or dbmate file runs
    right after the up section, as part of the same migration (the table created above is dropped again
    below), and the symptoms are confusing findings and a migration that undoes itself.

    ## Example
    ```sql
    -- +goose Up
    CREATE TABLE accounts (id bigint PRIMARY KEY);
    -- +goose Down
    DROP TABLE accounts;
    ```

    ## Use instead
    The up section in `migrations/<stem>.sql`, the down section in `rollback/<stem>.sql`, no markers.
    sqlmig splits statements itself (dollar-quoted function bodies included), so StatementBegin/End are not
    needed; a file that asked for no transaction gets `transaction: none` in its manifest.

    ## Known problems
    Markers inside a block comment or a string are still reported.
    """
    rollback = ctx.direction == "rollback"
    stem = ctx.path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".sql")
    where = f"rollback/{stem}.sql" if ctx.in_project else f"a file of its own (rollback/{stem}.sql in a sqlmig project)"
    for tool, markers in foreign_markers(ctx.text).items():
        listed = ", ".join(f"{w} (line {n})" for w, n, _ in markers[:4]) + (", …" if len(markers) > 4 else "")
        no_tx = (
            "; it asked for no transaction: set transaction: none in the manifest"
            if any(x for *_, x in markers)
            else ""
        )
        wrong = next((m for m in markers if _section(m[0]) == ("up" if rollback else "down")), None)
        if wrong and rollback:
            yield Hit(
                f"{wrong[0]} at line {wrong[1]}: sqlmig runs the whole rollback file, so the {tool} up section "
                "runs as part of the rollback",
                f"keep only the down section here, without the {tool} markers; "
                f"the up section belongs in migrations/{stem}.sql{no_tx}",
                line=wrong[1],
            )
        elif wrong:
            yield Hit(
                f"{wrong[0]} at line {wrong[1]}: sqlmig runs the whole file, so the {tool} down section runs as "
                "part of the forward migration, right after the up section",
                f"move the down section to {where} and delete the {tool} markers{no_tx}",
                line=wrong[1],
            )
        else:
            yield Hit(
                f"{tool} markers are plain comments to sqlmig, which runs the whole file: {listed}",
                f"delete them (sqlmig splits statements itself, function bodies included){no_tx}",
                line=markers[0][1],
                severity="warning",
            )


@rule(
    "SM506",
    "suppression-hygiene",
    "error",
    "A suppression comment without a reason, naming no or unknown rules, or unused",
    family="project",
    scope="file",
)
def suppression_hygiene(ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    Flags `-- sqlmig:disable …` and `-- sqlmig:disable-file …` comments that give no reason, name no
    rule or an unknown one, or cover no statement (errors: such a suppression is not honoured), and
    suppressions that silenced nothing (a warning: the problem is gone, so is the reason to suppress).

    ## Why is this bad
    A suppression is a decision someone must be able to review. squawk once let trailing text silence
    every rule (issue #974); an unknown rule name silences nothing while looking like it does.

    ## Example
    ```sql
    -- sqlmig:disable SM050
    CREATE INDEX orders_user_idx ON orders (user_id);
    ```

    ## Use instead
    ```sql
    -- sqlmig:disable SM050 orders has 40 rows and never grows (lookup table)
    CREATE INDEX orders_user_idx ON orders (user_id);
    ```

    ## Known problems
    None known.
    """
    enabled = getattr(ctx, "enabled", None)
    for s in ctx.suppressions:
        kind = "disable-file" if s.file_wide else "disable"
        if s.problem:
            yield Hit(f"sqlmig:{kind} at line {s.line} {s.problem}; it is ignored", line=s.line)
        elif not s.used and all(enabled is None or r in enabled for r in s.rules):
            yield Hit(
                f"sqlmig:{kind} {', '.join(s.rules)} at line {s.line} suppresses nothing",
                "remove it",
                line=s.line,
                severity="warning",
            )


@rule(
    "SM900",
    "statement-not-analyzed",
    "info",
    "Statements some rules could not analyse (with --verbose)",
    family="project",
    scope="file",
)
def statement_not_analyzed(ctx: FileContext) -> Iterator[Hit]:
    """## What it does
    With `--verbose`, says once per file which statements sqlglot cannot parse into a tree (it falls back
    to an opaque command for REINDEX, VACUUM, ALTER TYPE … ADD VALUE, policies and more), so the rules
    that need the tree skipped them, and which statements sqlmig does not recognise at all. The
    token-level rules (most of them, including every lock rule) still checked them.

    ## Why is this bad
    A linter that silently passes what it cannot read gives false assurance.

    ## Example
    ```sql
    ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;   -- sqlglot: Command
    ```

    ## Use instead
    Nothing to change; read the statement yourself if it matters.

    ## Known problems
    None known.
    """
    if not ctx.verbose or not ctx.statements:
        return
    unparsed = [s for s in ctx.statements if parse_statement(s.text) is None]
    unknown = [s for s in ctx.statements if not ddl.recognized(ddl.describe(s))]
    tree_rules = sorted(r.id for r in RULES.values() if r.tree)
    if unparsed:
        lines = ", ".join(str(s.line) for s in unparsed[:10]) + ("…" if len(unparsed) > 10 else "")
        yield hit(
            f"{len(unparsed)} statement{'s' if len(unparsed) != 1 else ''} sqlglot cannot parse (line "
            f"{lines}): rules that need its parse tree ({', '.join(tree_rules)}) skipped them; the token-level "
            "rules checked them",
            stmt=unparsed[0],
        )
    for s in unknown:
        yield hit(f"sqlmig does not analyse this kind of statement: {s.first_line[:60]}", stmt=s)
