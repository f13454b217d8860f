"""What lint remembers across statements (sqlmig.lint.context): per transaction, per file."""

from __future__ import annotations

from sqlmig.lint import lint_sql


def rules(sql: str, *ids: str) -> list[tuple[str, int]]:
    return [(f.rule, f.line) for f in lint_sql(sql, "loose.sql") if f.rule in ids]


def test_an_enum_value_is_usable_once_its_transaction_committed() -> None:
    added = "BEGIN;\nALTER TYPE mood ADD VALUE 'sad';\n"
    use = "UPDATE people SET mood = 'sad' WHERE id = 1;\n"
    assert rules(added + use + "COMMIT;\n", "SM102") == [("SM102", 3)]
    assert rules(added + "COMMIT;\nBEGIN;\n" + use + "COMMIT;\n", "SM102") == []
    assert rules(added + "COMMIT AND CHAIN;\n" + use + "COMMIT;\n", "SM102") == []


def test_locks_are_held_until_their_transaction_ends() -> None:
    alter = "ALTER TABLE users ADD COLUMN plan text;\n"
    build = "CREATE INDEX orders_idx ON orders (user_id);\n"
    assert rules(f"BEGIN;\n{alter}{build}COMMIT;\n", "SM008") == [("SM008", 3)]
    assert rules(f"BEGIN;\n{alter}COMMIT;\nBEGIN;\n{build}COMMIT;\n", "SM008") == []
    assert rules(f"BEGIN;\n{alter}UPDATE users SET plan = 'free';\nCOMMIT;\n", "SM301") == [("SM301", 3)]
    # the earliest lock is named, whatever the order the tables were locked in
    two = "ALTER TABLE a ADD COLUMN x int;\nALTER TABLE orders ADD COLUMN y int;\n"
    found = [f for f in lint_sql(two + build, "loose.sql") if f.rule == "SM008"]
    assert "the ACCESS EXCLUSIVE lock on a taken at line 1" in found[0].message


def test_looking_ahead_and_back_in_the_file() -> None:
    # a view re-created later, a constraint added again, an index that follows its foreign key
    assert rules("DROP VIEW v;\nCREATE VIEW v AS SELECT 1 AS a;\n", "SM232") == []
    assert rules("ALTER TABLE t DROP CONSTRAINT k;\nALTER TABLE t ADD CONSTRAINT k CHECK (a > 0) NOT VALID;\n",
                 "SM233") == []  # fmt: skip
    fk = "CREATE TABLE c (id bigint PRIMARY KEY, p_id bigint REFERENCES p);\n"
    assert rules(fk, "SM412") == [("SM412", 1)]
    assert rules(fk + "CREATE INDEX ON c (p_id);\n", "SM412") == []
    assert rules("ALTER TABLE users ADD a int;\nALTER TABLE users ADD b int;\n", "SM009") == [("SM009", 2)]
