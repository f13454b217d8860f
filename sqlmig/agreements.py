"""Does a migration's manifest agree with its SQL? One function per agreement, each returning Findings.

The manifest is the reviewer's summary of a change; these checks make it true. Each
finding points at the statement (file:line) that disagrees, or at the manifest key.
What a statement does (destructive, backward-incompatible, additive, DDL, DML, which
table) comes from sqlmig.postgres; here is only the policy:

- transaction: per-migration with a statement PostgreSQL refuses in a transaction block
  is an error; transaction: none with several statements is a warning (split it).
- phase: expand may not destroy or break (drops, renames, type changes, SET NOT NULL
  or a NOT NULL column without default on an existing table); tables and columns the
  migration creates are exempt, but a column it adds may not end up NOT NULL without a
  default (AddedColumns). phase: migrate may not change the schema; phase: contract that
  only adds is a warning.
- batch: every forward statement must be an UPDATE/DELETE of batch.table or an
  INSERT … SELECT reading it. Without batch, an UPDATE/DELETE of a table that existed
  before the migration is a warning unless its WHERE pins rows by constant keys: sqlmig
  cannot know a table's size, so it asks the author to decide.
- A destructive statement on a table that existed before needs point_of_no_return
  (a DELETE is excused by batch.capture, or by a rollback that INSERTs into the table).
  A point of no return has no rollback file; without one, the rollback is not empty.
- requires names versions of this project; verify holds one query each; the description
  is not a TODO placeholder (a warning).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable

from sqlmig import ddl, postgres
from sqlmig.errors import ProjectError
from sqlmig.findings import Finding
from sqlmig.project import Migration
from sqlmig.sql import SqlFile, Statement, psql_only_problems, split_statements

QUERY_HEADS = ("SELECT", "WITH", "VALUES", "TABLE")
_WHERE = re.compile(r"^(?P<path>.*?)(?::(?P<line>\d+)(?::(?P<col>\d+))?)?$", re.S)


def _at(stmt: Statement, rule: str, severity: str, message: str, hint: str | None = None) -> Finding:
    return Finding(rule, severity, stmt.path, stmt.line, message, hint, stmt.column)


def statements_or_findings(sql_file: SqlFile) -> tuple[list[Statement] | None, list[Finding]]:
    """The file's statements, or findings saying why it cannot be split (bad UTF-8, an unterminated
    quote, psql syntax). The splitter stops at the first problem; every psql-only construct is named."""
    try:
        return sql_file.statements, []
    except ProjectError as exc:
        problems = [exc]
    with contextlib.suppress(ProjectError):  # text that is not UTF-8 has nothing more to say
        problems += psql_only_problems(sql_file.text, sql_file.display)
    return None, list(dict.fromkeys(_error_finding("check/sql-file", e, sql_file.display) for e in problems))


def _error_finding(rule: str, exc: ProjectError, default_path: str) -> Finding:
    """A ProjectError (where = 'path:line:col', 'path:line' or 'path') as an error finding."""
    where = _WHERE.match(exc.where or default_path)
    assert where is not None  # the pattern matches any text
    line, col = int(where["line"] or 1), int(where["col"] or 1)
    return Finding(rule, "error", where["path"], line, exc.message, exc.hint, col)


# ALTER COLUMN verbs -> (which of AddedColumns' two flags, its new value)
_SETS = {"SET NOT NULL": (0, True), "DROP NOT NULL": (0, False), "SET DEFAULT": (1, True), "DROP DEFAULT": (1, False)}


class AddedColumns:
    """Columns this migration adds with ALTER TABLE, followed through its later statements.

    Code written before the migration does not know them, so renaming one, changing its type
    or dropping its default breaks nothing, with one exception: old INSERTs leave the column
    out, so one that ends up NOT NULL without a default makes them fail. Django's output for a
    NOT NULL field with a default (ADD COLUMN … DEFAULT 1 NOT NULL, then DROP DEFAULT) is that.
    """

    def __init__(self) -> None:
        self.state: dict[tuple[str, str], list[bool]] = {}  # (table, column) -> [NOT NULL, has a default]

    def _key(self, table: str, column: str | None) -> tuple[str, str] | None:
        return next((k for k in self.state if k[1] == column and postgres.same_table(k[0], table)), None)

    def step(self, s: Statement) -> list[tuple[str, str, str]]:
        """Follow one statement: (verb, table, column) for each action that left an added column NOT NULL
        without a default (ADD COLUMN … NOT NULL itself is postgres.backward_incompatible_reason's)."""
        a, out = ddl.describe(s), []
        for x in a.actions if a.kind == "ALTER TABLE" and a.table else ():
            if x.verb == "ADD COLUMN" and x.coldef:
                col = x.coldef
                self.state[(a.table, col.name)] = [col.not_null or col.primary_key, bool(col.default or col.generated)]
            elif (key := self._key(a.table, x.column)) and x.verb == "RENAME COLUMN" and x.new_name:
                self.state[(key[0], x.new_name)] = self.state.pop(key)
            elif key and x.verb == "DROP COLUMN":
                del self.state[key]
            elif key and x.verb in _SETS:
                was_writable = not self.state[key][0] or self.state[key][1]
                index, value = _SETS[x.verb]
                self.state[key][index] = value
                if was_writable and self.state[key][0] and not self.state[key][1]:
                    out.append((x.verb, *key))
        return out


class Context:
    """One migration with its statements split once, and the tables and columns created before each statement."""

    def __init__(self, m: Migration, ups: list[Statement], downs: list[Statement] | None) -> None:
        self.m, self.ups, self.downs = m, ups, downs
        self.manifest = m.manifest
        self.new_before: list[list[str]] = []  # per forward statement: tables created by earlier statements
        self.new_columns: list[set[tuple[str, str]]] = []  # per statement: columns added before it or by it
        self.unwritable: list[list[tuple[str, str, str]]] = []  # per statement: AddedColumns.step
        created: list[str] = []
        added = AddedColumns()
        for s in ups:
            self.new_before.append(list(created))
            if name := postgres.created_table(s):
                created.append(name)
            before = set(added.state)
            self.unwritable.append(added.step(s))
            self.new_columns.append(before | set(added.state))

    def is_new(self, i: int, tables: list[str]) -> bool:
        """All of `tables` were created earlier in this migration (so nothing existing is touched)."""
        return bool(tables) and all(any(postgres.same_table(t, n) for n in self.new_before[i]) for t in tables)

    def manifest_finding(self, rule: str, severity: str, key: tuple, message: str, hint: str | None = None) -> Finding:
        line, col = self.manifest.positions.key(key)
        return Finding(rule, severity, self.m.manifest_display, line, message, hint, col)

    @property
    def rollback_claims_undo(self) -> bool:
        from sqlmig.sql import has_restore_directive

        return bool(self.downs) or (self.m.rollback is not None and has_restore_directive(self.m.rollback.text))


def check_transaction(c: Context) -> Iterable[Finding]:
    for s in [*c.ups, *(c.downs or [])]:
        if postgres.is_transaction_control(s):
            yield _at(s, "check/transaction-control", "error", f"transaction control in a migration file: "
                      f"{s.first_line}", "remove it: sqlmig runs each migration in its own transaction, "
                      "or statement by statement with transaction: none")  # fmt: skip
        elif c.manifest.transactional and (reason := postgres.not_in_transaction_reason(s)):
            yield _at(s, "check/transaction", "error", f"transaction: per-migration, but {reason}",
                      f"set transaction: none in {c.m.manifest_display} and keep this statement in a "
                      "migration of its own")  # fmt: skip
    if not c.manifest.transactional and len(c.ups) > 1:
        yield _at(c.ups[1], "check/transaction-none", "warning",
                  f"transaction: none with {len(c.ups)} statements: if a later one fails, the earlier ones stay "
                  "applied and the schema is half-changed",
                  "split the migration: the statement that needs transaction: none alone, the rest in a "
                  "per-migration migration")  # fmt: skip


def check_phase(c: Context) -> Iterable[Finding]:
    phase = c.manifest.phase
    if phase == "expand":
        for i, s in enumerate(c.ups):
            if c.is_new(i, postgres.target_tables(s)):
                continue
            if reason := postgres.backward_incompatible_reason(s, c.new_before[i], c.new_columns[i]):
                yield _at(s, "check/phase-expand", "error", f"phase: expand, but {reason}",
                          "expand is additive and backward compatible; remove or rename things in a contract "
                          "migration once no running code uses them")  # fmt: skip
            for verb, table, column in c.unwritable[i]:
                yield _at(s, "check/phase-expand", "error", f"phase: expand, but {verb} leaves {table}.{column}, "
                          "which this migration adds, NOT NULL without a default: INSERTs by code that does not "
                          "know the column yet start failing", f"keep a default on {table}.{column} here "
                          "(Django: db_default) and drop it in a contract migration once no old code writes the "
                          "table")  # fmt: skip
    elif phase == "migrate":
        for s in c.ups:
            if postgres.is_ddl(s):
                yield _at(s, "check/phase-migrate", "error", f"phase: migrate is for data changes, but this is "
                          f"a schema change ({s.kind})", "move it to an expand migration (additions) or a "
                          "contract migration (removals)")  # fmt: skip
    elif phase == "contract" and c.ups and all(postgres.is_additive(s) for s in c.ups):
        yield _at(
            c.ups[0],
            "check/phase-contract",
            "warning",
            "phase: contract, but every statement only adds",
            "additions belong in an expand migration, applied before the code that uses them ships",
        )


def check_batch(c: Context) -> Iterable[Finding]:
    batch = c.manifest.batch
    if batch is not None:
        found = [f for s in c.ups for f in _batchable(s, batch.table)]
        yield from found or _runner_refusal(c)
        return
    for i, s in enumerate(c.ups):
        kind, target = postgres.dml_kind(s), postgres.dml_target(s)
        if kind in ("UPDATE", "DELETE") and target and not c.is_new(i, [target]) and not postgres.rows_pinned(s):
            yield _at(s, "check/unbatched", "warning",
                      f"{kind} of {target}, a table that existed before this migration, runs as one "
                      "transaction however many rows it touches",
                      f"on a large table add `batch: {{table: {target}}}` to {c.m.manifest_display} so it runs in "
                      "small committed key ranges; on a small table this warning needs nothing")  # fmt: skip


def _runner_refusal(c: Context) -> list[Finding]:
    """What the batch runner would refuse at apply (e.g. no range placeholders and no batch key), as a finding."""
    from sqlmig.batch.bounds import bound_statements

    assert c.manifest.batch is not None
    try:
        bound_statements(c.ups, c.manifest.batch, c.manifest.batch.key)
    except ProjectError as exc:
        return [_error_finding("check/batch", exc, c.m.up.display)]
    return []


def _batchable(s: Statement, table: str) -> Iterable[Finding]:
    hint = f"keep only the batched change in this migration (batch.table: {table}); move the rest to another"
    kind, target = postgres.dml_kind(s), postgres.dml_target(s)
    if kind in ("UPDATE", "DELETE"):
        if target and not postgres.same_table(target, table):
            yield _at(s, "check/batch", "error", f"batch.table is {table}, but this {kind} writes {target}", hint)
    elif kind == "INSERT":
        reads = postgres.insert_select_reads(s)
        if reads is None:
            yield _at(s, "check/batch", "error", "batch: only INSERT … SELECT can run in key ranges, "
                      "not INSERT … VALUES", hint)  # fmt: skip
        elif not any(postgres.same_table(t, table) for t in reads):
            yield _at(s, "check/batch", "error", f"batch.table is {table}, but this INSERT … SELECT does "
                      "not read it", hint)  # fmt: skip
    else:
        yield _at(s, "check/batch", "error", f"batch: only UPDATE, DELETE and INSERT … SELECT on {table} "
                  f"run in key ranges, not {kind or s.kind or 'this statement'}", hint)  # fmt: skip


def check_point_of_no_return(c: Context) -> Iterable[Finding]:
    m, ponr = c.m, c.manifest.point_of_no_return
    if ponr is None:
        for i, s in enumerate(c.ups):
            reason = postgres.destructive_reason(s)
            if not reason or c.is_new(i, postgres.target_tables(s)) or _delete_is_undoable(c, s):
                continue
            yield _at(s, "check/point-of-no-return", "error", f"{reason}, but the manifest declares no "
                      "point_of_no_return", f"add `point_of_no_return: {{reason: \"…\"}}` to {m.manifest_display} "
                      "(apply then asks for --yes, and rollback stops there), and delete the rollback file",
                      )  # fmt: skip
    elif m.rollback is not None and c.rollback_claims_undo:
        line = c.downs[0].line if c.downs else 1
        yield Finding("check/rollback-claims-undo", "error", m.rollback.display, line,
                      f"point_of_no_return is declared ({ponr.reason}), but this rollback file claims to undo "
                      "the change", f"delete {m.rollback.display}: rollback never crosses a point of no return; "
                      "or drop point_of_no_return if this rollback really restores everything")  # fmt: skip


def _delete_is_undoable(c: Context, s: Statement) -> bool:
    """A DELETE whose rows come back: captured by the batch runner, or re-inserted by the rollback."""
    if postgres.dml_kind(s) != "DELETE":
        return False
    if c.manifest.batch is not None and c.manifest.batch.capture:
        return True
    target = postgres.dml_target(s)
    return bool(target) and any(
        postgres.dml_kind(d) == "INSERT" and postgres.same_table(postgres.dml_target(d) or "", target)
        for d in c.downs or []
    )


def check_requires(c: Context, versions: set[int]) -> Iterable[Finding]:
    for i, v in enumerate(c.manifest.requires):
        if int(v) == c.m.number:
            yield c.manifest_finding("check/requires", "error", ("requires", i), f"requires: {v} is this migration")
        elif int(v) not in versions:
            yield c.manifest_finding("check/requires", "error", ("requires", i),
                                     f"requires: {v} is not a migration of this project",
                                     "name the version of an existing migration (see `sqlmig status`)")  # fmt: skip


def check_verify(c: Context) -> Iterable[Finding]:
    queries = c.manifest.verify
    for i, query in enumerate(queries):
        key = ("verify", i) if isinstance(c.manifest.raw.get("verify"), list) else ("verify",)
        try:
            stmts = split_statements(query)
        except ProjectError as exc:
            yield c.manifest_finding("check/verify", "error", key, f"verify: {exc.message}", exc.hint)
            continue
        if len(stmts) != 1:
            yield c.manifest_finding("check/verify", "error", key, f"verify: {len(stmts)} statements in one "
                                     "query; write one query per list item")  # fmt: skip
        elif stmts[0].keywords[:1] and stmts[0].keywords[0] not in QUERY_HEADS:
            yield c.manifest_finding("check/verify", "error", key, f"verify: must be a query that returns true "
                                     f"(SELECT …), not {stmts[0].kind}")  # fmt: skip


AGREEMENTS: tuple[Callable[[Context], Iterable[Finding]], ...] = (
    check_transaction, check_phase, check_batch, check_point_of_no_return, check_verify,
)  # fmt: skip


def check_template(m: Migration) -> list[Finding]:
    """The manifest still describes the change with the template's TODO (`sqlmig new` writes one)."""
    description = m.manifest.description.strip()
    if not description.upper().startswith("TODO"):
        return []
    line, col = m.manifest.positions.value(("description",))
    return [Finding("check/template", "warning", m.manifest_display, line, f'description is still a placeholder: '
                    f'"{description}"', "say what this change does and why: reviewers and `sqlmig status` show it",
                    col)]  # fmt: skip


def _empty_files(m: Migration, ups: list[Statement] | None, downs: list[Statement] | None) -> list[Finding]:
    """A forward file with no SQL, a rollback file with nothing to undo it: each on its own (a file that
    cannot be split is reported as such, and does not hide the other file's emptiness)."""
    out = []
    if ups == [] and not m.manifest.allow_empty:
        out.append(Finding("check/sql-file", "error", m.up.display, 1, "file holds no SQL statements",
                           "write the change, or set allow_empty: true in the manifest for a placeholder"))  # fmt: skip
    if m.rollback is not None and downs == [] and m.manifest.point_of_no_return is None:
        from sqlmig.sql import has_restore_directive

        if not has_restore_directive(m.rollback.text) and not (ups == [] and m.manifest.allow_empty):
            out.append(Finding("check/rollback-empty", "error", m.rollback.display, 1,
                               "the rollback file holds no statements",
                               f"write the SQL that undoes {m.up.display}, or declare point_of_no_return in "
                               f"{m.manifest_display} and delete the rollback file"))  # fmt: skip
    return out


def check_migration(m: Migration, versions: set[int]) -> list[Finding]:
    """Every disagreement between one migration's manifest and its forward and rollback SQL."""
    ups, problems = statements_or_findings(m.up)
    downs = None
    if m.rollback is not None:
        downs, more = statements_or_findings(m.rollback)
        problems += more
    findings = problems + check_template(m) + _empty_files(m, ups, downs)
    if ups is None or (m.rollback is not None and downs is None):
        return findings
    c = Context(m, ups, downs)
    for agreement in AGREEMENTS:
        findings += agreement(c)
    findings += check_requires(c, versions)
    return findings
