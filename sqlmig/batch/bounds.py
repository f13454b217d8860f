"""How the author's SQL is bounded to one key range: placeholders, or a predicate added by sqlglot.

Preferred: the author writes `:batch_start` and `:batch_end` where the range goes, e.g.
`WHERE unit IS NULL AND id BETWEEN :batch_start AND :batch_end`. sqlmig swaps each
placeholder for a server-side parameter (`$1`, `$2`; a row `($1, $2)` per bound for a
composite key) and sends the rest of the author's text byte for byte, with the range's
first and last key bound as parameters. Nothing else in the text changes.

Fallback: a single-table UPDATE or DELETE of the batch table, or an INSERT … SELECT
from it, written without placeholders, gets `AND <key> BETWEEN :batch_start AND
:batch_end` added by sqlglot, which regenerates the statement's text. `sqlmig plan`
shows that regenerated text and says it was rewritten; anything else is refused with
the line to write instead.

Pure: no database. The text shown by `plan` is the text `apply` sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from sqlmig.errors import ProjectError
from sqlmig.manifest import Batch
from sqlmig.sql import BATCH_PLACEHOLDERS, Statement, checksum

PLACEHOLDERS = BATCH_PLACEHOLDERS  # the splitter lets exactly these through as non-psql variables
_DML = {"UPDATE", "DELETE", "INSERT", "WITH", "MERGE"}


@dataclass(frozen=True)
class Bounded:
    """One statement of a batched migration, ready to run per range."""

    statement: Statement
    source: str  # the author's text with :batch_start/:batch_end (after a rewrite when `rewritten`)
    rewritten: bool  # True when sqlglot added the range predicate
    kind: str  # UPDATE, DELETE, INSERT, WITH, MERGE

    @property
    def checksum(self) -> str:
        """What a resumed run must find unchanged before it continues from a checkpoint."""
        return checksum(self.source.encode())

    def server_text(self, key_columns: int = 1) -> str:
        """The exact text sent to the server: each placeholder replaced by $n parameters."""
        return _substitute(self.source, key_columns)

    def params(self, start: list[str], end: list[str]) -> list[str]:
        """Parameters in $n order for one range, given the first and last key (as text)."""
        return [*start, *end]


def _placeholder_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end_exclusive, name) of each `:batch_start`/`:batch_end` outside strings and comments."""
    from sqlglot.dialects.postgres import Postgres

    tokens = Postgres.Tokenizer().tokenize(text)
    spans = []
    for colon, name in pairwise(tokens):
        if (colon.token_type.name == "COLON" and name.token_type.name == "VAR"
                and name.text.lower() in PLACEHOLDERS and name.start == colon.end + 1):  # fmt: skip
            spans.append((colon.start, name.end + 1, name.text.lower()))
    return spans


def _substitute(text: str, n: int) -> str:
    out, pos = [], 0
    for start, end, name in _placeholder_spans(text):
        first = 1 if name == "batch_start" else n + 1
        params = [f"${i}" for i in range(first, first + n)]
        out += [text[pos:start], params[0] if n == 1 else f"({', '.join(params)})"]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _refuse(stmt: Statement, why: str) -> ProjectError:
    return ProjectError(
        f"batched statement cannot be bounded to a key range: {why}",
        where=stmt.where,
        details=[stmt.first_line],
        hint="write the range into the statement yourself, e.g. `... AND id BETWEEN :batch_start AND :batch_end` "
        "(a composite key: `(a, b) BETWEEN :batch_start AND :batch_end`); sqlmig binds the range's first and "
        "last key there",
    )


def _same_table(table_expr: object, batch_table: str) -> bool:
    name = getattr(table_expr, "name", "") or ""
    db = getattr(table_expr, "db", "") or ""
    want = [p.strip().strip('"') for p in batch_table.split(".")]
    have = [db, name] if db else [name]
    n = min(len(have), len(want))  # `items` matches `public.items` (the server resolves the schema)
    return [p.lower() for p in have[-n:]] == [p.lower() for p in want[-n:]]


def _rewrite(stmt: Statement, batch: Batch, key: tuple[str, ...]) -> str:
    """Add `AND <key> BETWEEN :batch_start AND :batch_end` through sqlglot, or refuse."""
    from sqlglot import exp

    tree = stmt.parse()
    if tree is None:
        raise _refuse(stmt, "sqlglot cannot parse it, so sqlmig will not rewrite it")
    tree = tree.copy()  # the parsed tree is cached and shared; never change it in place
    if isinstance(tree, (exp.Update, exp.Delete)):
        target, query = tree.this, tree
    elif isinstance(tree, exp.Insert) and isinstance(tree.expression, exp.Select):
        query = tree.expression
        source = query.args.get("from_") or query.args.get("from")
        target = source.this if source is not None else None
        if query.args.get("joins"):
            raise _refuse(stmt, "its SELECT joins several tables")
    else:
        raise _refuse(stmt, "only UPDATE, DELETE and INSERT … SELECT can be rewritten")
    if tree.find(exp.With) is not None or (isinstance(tree, exp.Update) and tree.args.get("from_")):
        raise _refuse(stmt, "it has a WITH or FROM clause")
    if not isinstance(target, exp.Table) or not _same_table(target, batch.table):
        raise _refuse(stmt, f"it does not operate on the batch table {batch.table}")
    qualifier = target.alias_or_name
    cols = [f'"{qualifier}"."{c}"' if target.alias else f'"{c}"' for c in key]
    lhs = cols[0] if len(cols) == 1 else f"({', '.join(cols)})"
    import sqlglot

    cond = sqlglot.parse_one(f"{lhs} BETWEEN :batch_start AND :batch_end", read="postgres")
    query.where(cond, copy=False)
    text = tree.sql(dialect="postgres")
    return text.replace("%(batch_start)s", ":batch_start").replace("%(batch_end)s", ":batch_end")


def bound_statements(statements: list[Statement], batch: Batch, key: tuple[str, ...] | None) -> list[Bounded]:
    """Each statement of a batched migration with its range placeholders; ProjectError when one cannot be bounded.

    `key` is the batch key (None when it defaults to the primary key, which only the
    database knows: then a statement without placeholders cannot be rewritten here).
    """
    out = []
    for stmt in statements:
        kind = stmt.kind.split()[0] if stmt.kind else ""
        if kind not in _DML:
            raise ProjectError(
                f"a batched migration holds only data changes (UPDATE, DELETE, INSERT … SELECT); got {stmt.kind}",
                where=stmt.where,
                details=[stmt.first_line],
                hint="move schema changes into their own expand or contract migration",
            )
        names = {name for _, _, name in _placeholder_spans(stmt.text)}
        if names == set(PLACEHOLDERS):
            out.append(Bounded(stmt, stmt.text, False, kind))
            continue
        if names:
            missing = ", ".join(f":{n}" for n in PLACEHOLDERS if n not in names)
            raise _refuse(stmt, f"it uses one range placeholder but not {missing}")
        if key is None:
            raise _refuse(stmt, "it has no :batch_start/:batch_end and the manifest names no batch key")
        out.append(Bounded(stmt, _rewrite(stmt, batch, key), True, kind))
    if batch.capture:
        for b in out:
            _check_capturable(b, batch)
    return out


def _check_capturable(b: Bounded, batch: Batch) -> None:
    """capture: true copies rows of the batch table, so each statement must change that table's rows."""
    from sqlglot import exp

    tree = b.statement.parse()
    target = tree.this if isinstance(tree, (exp.Update, exp.Delete)) else None
    if not isinstance(target, exp.Table) or not _same_table(target, batch.table):
        what = b.kind if b.kind not in ("UPDATE", "DELETE") else f"{b.kind} of another table (or unparsable)"
        raise ProjectError(
            f"capture: true restores rows of {batch.table} that an UPDATE or DELETE changed; this statement is {what}",
            where=b.statement.where,
            details=[b.statement.first_line],
            hint="turn capture off and write the rollback yourself, or split the migration",
        )


def refuse_stray_placeholders(statements: list[Statement], manifest: str) -> None:
    """`:batch_start`/`:batch_end` in a migration without `batch:` would reach the server as a syntax error.

    A placeholder is `:` directly followed by the name, in any case, so text without `:batch_`
    (case-insensitively) holds none: only the rest are tokenized (most migrations, most statements)."""
    for stmt in statements:
        if ":batch_" not in stmt.text.lower():
            continue
        spans = _placeholder_spans(stmt.text)
        if spans:
            raise ProjectError(
                f":{spans[0][2]} is a batch range placeholder, but this migration is not batched",
                where=stmt.where,
                details=[stmt.first_line],
                hint=f"add a batch: section (table, key) to {manifest}, or remove the placeholder",
            )
