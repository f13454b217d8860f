"""What PostgreSQL does with each kind of statement: the one place for that knowledge.

Lock levels, rewrites, which statements refuse a transaction block, and what a statement
does to schema and data live in this package, and everything else (runner, check, lint,
plan, verify, backup) asks it. The facts come from ../shared/lint-rules.md §2-§3 (measured
on PostgreSQL 15.18 and 18.6). One module per question, so each stays readable:

- locks: lock modes, PostgreSQL's conflict table, `lock_effects` of a statement;
- rewrites: type changes, default volatility, SET NOT NULL scans (and `Facts`, what is
  known about the schema before a statement);
- transactions: statements refused in a transaction block, transaction control, SET/RESET;
- classify: statement kind, DDL or DML, target tables, destructive, backward-incompatible, additive.

Callers import the package (`from sqlmig import postgres`; `postgres.lock_effects(...)`):
the modules are how the code is arranged, not part of the API.
"""

from __future__ import annotations

from sqlmig.postgres.classify import (
    backward_incompatible_reason,
    created_columns,
    created_table,
    destructive_reason,
    dml_kind,
    dml_target,
    fold_name,
    insert_select_reads,
    is_additive,
    is_ddl,
    is_dml,
    rows_pinned,
    same_table,
    statement_kind,
    target_tables,
    written_tables,
)
from sqlmig.postgres.locks import (
    LOCK_MODES,
    STRONG_LOCKS,
    LockEffect,
    blocks,
    conflicts,
    lock_effects,
    lock_rank,
    statement_effects,
)
from sqlmig.postgres.rewrites import (
    NO_FACTS,
    SERIAL_TYPES,
    Facts,
    PgType,
    Rewrite,
    add_column_rewrite,
    default_volatility,
    parse_type,
    set_not_null_scans,
    type_change_rewrites,
)
from sqlmig.postgres.transactions import (
    changes_session,
    changes_string_syntax,
    drops_prepared_statements,
    is_transaction_control,
    not_in_transaction_reason,
    transaction_boundary,
)

__all__ = [
    "LOCK_MODES",
    "NO_FACTS",
    "SERIAL_TYPES",
    "STRONG_LOCKS",
    "Facts",
    "LockEffect",
    "PgType",
    "Rewrite",
    "add_column_rewrite",
    "backward_incompatible_reason",
    "blocks",
    "changes_session",
    "changes_string_syntax",
    "conflicts",
    "created_columns",
    "created_table",
    "default_volatility",
    "destructive_reason",
    "dml_kind",
    "dml_target",
    "drops_prepared_statements",
    "fold_name",
    "insert_select_reads",
    "is_additive",
    "is_ddl",
    "is_dml",
    "is_transaction_control",
    "lock_effects",
    "lock_rank",
    "not_in_transaction_reason",
    "parse_type",
    "rows_pinned",
    "same_table",
    "set_not_null_scans",
    "statement_effects",
    "statement_kind",
    "target_tables",
    "transaction_boundary",
    "type_change_rewrites",
    "written_tables",
]
