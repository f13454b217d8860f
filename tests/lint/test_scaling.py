"""Lint stays linear in the length of a file: counted, not timed (the machine is shared; figures are in bench/).

The QA report: an INSERT-per-line file of 20k statements took 44 s, because SM102 described every earlier
statement for each statement. Here the work is the number of calls into sqlmig's own functions: doubling
a file that exercises every rule which looks at other statements must not much more than double it
(a rule that loops over the file per statement quadruples it).
"""

from __future__ import annotations

import sys

import yaml

from sqlmig.lint import lint_sql
from sqlmig.manifest import parse_manifest
from sqlmig.sql import split_statements

BLOCK = """ALTER TYPE mood ADD VALUE 'v{i}';
UPDATE orders SET note = 'v{i}' WHERE id = {i};
ALTER TABLE users ADD COLUMN c{i} text;
ALTER TABLE users ALTER COLUMN c{i} SET NOT NULL;
ALTER TABLE orders DROP CONSTRAINT k{i};
ALTER TABLE orders VALIDATE CONSTRAINT k{i};
DROP VIEW v{i};
CREATE INDEX CONCURRENTLY IF NOT EXISTS i{i} ON orders (a{i});
ALTER TABLE t{i} RENAME TO u{i};
CREATE TABLE f{i} (id bigint PRIMARY KEY, user_id bigint REFERENCES users);
-- sqlmig:disable SM074 a reason
TRUNCATE cache{i};
INSERT INTO big VALUES ({i}, 'name {i}');
"""


def sqlmig_calls(fn) -> int:
    """How many calls into sqlmig's own functions `fn()` makes."""
    count = 0

    def profile(frame, event, arg) -> None:
        nonlocal count
        if event == "call" and "/sqlmig/" in frame.f_code.co_filename:
            count += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


def test_lint_work_grows_linearly() -> None:
    def lint(blocks: int):
        text = "".join(BLOCK.format(i=i) for i in range(blocks))
        return lambda: lint_sql(text, "big.sql")

    small, large = sqlmig_calls(lint(80)), sqlmig_calls(lint(160))
    assert large < 2.2 * small, (small, large)


def test_reversibility_work_grows_linearly() -> None:
    manifest = parse_manifest(yaml.safe_dump({"description": "x", "phase": "expand"}).encode(), "m.yaml")

    def lint(n: int):
        forward = "".join(
            f"ALTER TABLE t{i % 7} ADD COLUMN c{i} int DEFAULT 1 NOT NULL;\n"
            f"ALTER TABLE t{i % 7} ALTER COLUMN c{i} DROP DEFAULT;\n"
            f"CREATE TABLE n{i} (id bigint PRIMARY KEY, t_id bigint REFERENCES n{max(i - 1, 0)});\n"
            f"CREATE VIEW w{i} AS SELECT * FROM n{i};\n"
            f"CREATE TRIGGER g{i} BEFORE INSERT ON n{i} FOR EACH ROW EXECUTE FUNCTION f{i}();\n"
            for i in range(n)
        )
        rollback = "".join(
            f"DROP VIEW w{i};\nDROP TABLE n{i};\nDROP FUNCTION f{i}();\nALTER TABLE t{i % 7} DROP COLUMN c{i};\n"
            for i in reversed(range(n))
        )
        split_statements(forward), split_statements(rollback)  # the splitter is not what is measured here
        return lambda: lint_sql(rollback, "down.sql", manifest=manifest, forward=forward)

    small, large = sqlmig_calls(lint(60)), sqlmig_calls(lint(120))
    assert large < 2.2 * small, (small, large)
