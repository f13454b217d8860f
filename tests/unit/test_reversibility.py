"""sqlmig.reversibility: the static proof that a rollback undoes its forward migration, in a workable order."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlmig import ddl, reversibility
from sqlmig.config import load_settings
from sqlmig.lint.schema import SchemaModel
from sqlmig.project import load_project
from sqlmig.sql import split_statements

REPO = Path(__file__).resolve().parents[2]


def prove(forward: str, rollback: str | None, *, history: str = "", pnr: str | None = None) -> list[str]:
    model = SchemaModel()
    for stmt in split_statements(history):
        model.apply(ddl.describe(stmt))
    found = reversibility.prove(
        split_statements(forward),
        split_statements(rollback) if rollback is not None else None,
        forward_path="up.sql",
        rollback_path="down.sql",
        point_of_no_return=pnr,
        model=model,
    )
    return [f"{f.severity} {f.path}:{f.line} {f.message}" for f in found]


def test_the_example_project_is_reversible() -> None:
    project = load_project(load_settings(REPO))
    model = SchemaModel()
    findings = []
    for m in project.migrations:
        findings += [f for f in reversibility.check_migration(m, model) if f.severity != "info"]
        for stmt in m.up.statements:
            model.apply(ddl.describe(stmt))
    assert findings == []


def test_missing_undo_is_named_exactly() -> None:
    assert prove("ALTER TABLE users ADD COLUMN email_verified boolean;", "SELECT 1;") == [
        "error up.sql:1 forward adds column users.email_verified; rollback never drops it"
    ]


def test_a_complete_rollback_in_reverse_order_is_clean() -> None:
    forward = """
        CREATE TABLE accounts (id bigint PRIMARY KEY, owner text);
        CREATE INDEX accounts_owner_idx ON accounts (owner);
        CREATE VIEW account_owners AS SELECT owner FROM accounts;
        ALTER TABLE users ADD COLUMN account_id bigint;
        ALTER TABLE users ADD CONSTRAINT users_account_fk FOREIGN KEY (account_id) REFERENCES accounts NOT VALID;
        CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
        CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch();
        CREATE TYPE mood AS ENUM ('ok', 'meh');
        CREATE SEQUENCE tickets;
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        GRANT SELECT ON accounts TO reporting;
        ALTER TABLE users RENAME COLUMN name TO full_name;
        ALTER TABLE users ALTER COLUMN email SET NOT NULL;
    """
    rollback = """
        ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
        ALTER TABLE users RENAME COLUMN full_name TO name;
        REVOKE SELECT ON accounts FROM reporting;
        DROP EXTENSION IF EXISTS pg_trgm;
        DROP SEQUENCE tickets;
        DROP TYPE mood;
        DROP TRIGGER accounts_touch ON accounts;
        DROP FUNCTION touch();
        ALTER TABLE users DROP CONSTRAINT users_account_fk;
        ALTER TABLE users DROP COLUMN account_id;
        DROP VIEW account_owners;
        DROP TABLE accounts;
    """
    assert prove(forward, rollback) == []


@pytest.mark.parametrize(
    ("forward", "rollback", "expected"),
    [
        ("CREATE INDEX CONCURRENTLY i ON t (a);", "SELECT 1;", "forward creates index i; rollback never drops it"),
        ("CREATE INDEX ON t (a);", "SELECT 1;", "forward creates index t_a_idx; rollback never drops it"),
        ("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;", "SELECT 1;",
         "forward adds constraint c on t; rollback never drops it"),
        ("ALTER TABLE t ADD UNIQUE (a);", "SELECT 1;", "forward adds constraint t_a_key on t; rollback never drops it"),
        ("DROP INDEX i;", "SELECT 1;", "forward drops index i; rollback never re-creates it"),
        ("ALTER TABLE t DROP COLUMN c;", "SELECT 1;", "forward drops column t.c; rollback never re-adds it"),
        ("ALTER TABLE t RENAME TO u;", "SELECT 1;", "forward renames table t to u; rollback never renames it back"),
        ("ALTER TABLE t ALTER COLUMN c TYPE bigint;", "SELECT 1;",
         "forward changes the type of t.c; rollback never changes it back"),
        ("ALTER TABLE t ALTER COLUMN c SET DEFAULT 0;", "SELECT 1;",
         "forward sets a default on t.c; rollback never restores the old default"),
        ("CREATE POLICY p ON t USING (true);", "SELECT 1;", "forward creates policy p on t; rollback never drops it"),
        ("GRANT SELECT ON t TO app;", "SELECT 1;", "forward grants SELECT on t to app; rollback never revokes it"),
        ("ALTER TYPE mood RENAME VALUE 'a' TO 'b';", "SELECT 1;",
         "forward renames value 'a' of mood to 'b'; rollback never renames it back"),
        ("ALTER TABLE t ENABLE ROW LEVEL SECURITY;", "SELECT 1;",
         "forward enables row level security on t; rollback never disables it"),
    ],
)  # fmt: skip
def test_each_kind_of_effect_needs_its_inverse(forward: str, rollback: str, expected: str) -> None:
    assert [m.split(" ", 2)[2] for m in prove(forward, rollback)] == [expected]


def test_inverse_statements_are_accepted() -> None:
    assert prove("ALTER TABLE t ALTER COLUMN c SET DEFAULT 0;", "ALTER TABLE t ALTER COLUMN c DROP DEFAULT;") == []
    assert prove("ALTER TABLE t ALTER COLUMN c TYPE bigint;", "ALTER TABLE t ALTER COLUMN c TYPE integer;") == []
    assert prove("ALTER TABLE t RENAME TO u;", "ALTER TABLE u RENAME TO t;") == []
    assert prove("DROP INDEX i;", "CREATE INDEX i ON t (a);") == []
    assert prove("CREATE INDEX ON t (a);", "DROP INDEX t_a_idx;") == []


def test_dropping_a_table_the_forward_file_created_undoes_everything_on_it() -> None:
    forward = """CREATE TABLE t (id bigint);
                 CREATE INDEX t_id_idx ON t (id);
                 ALTER TABLE t ADD COLUMN note text;
                 INSERT INTO t (id) VALUES (1);"""
    assert prove(forward, "DROP TABLE t;") == []


def test_order_a_table_before_its_view() -> None:
    forward = "CREATE TABLE accounts (id bigint); CREATE VIEW active AS SELECT * FROM accounts;"
    assert prove(forward, "DROP TABLE accounts; DROP VIEW active;") == [
        "error down.sql:1 rollback drops table accounts before the view that depends on it (active)"
    ]
    assert prove(forward, "DROP TABLE accounts CASCADE; DROP VIEW IF EXISTS active;") == []


def test_order_a_view_before_the_view_built_on_it() -> None:
    # the shape of LemmyNet/lemmy 2019-04-29 add_delete_columns, with one rollback line removed
    forward = "CREATE VIEW comment_view AS SELECT * FROM comment; CREATE VIEW reply_view AS SELECT * FROM comment_view;"
    assert prove(forward, "DROP VIEW comment_view; DROP VIEW reply_view;") == [
        "error down.sql:1 rollback drops view comment_view before the view that depends on it (reply_view)"
    ]
    assert prove(forward, "DROP VIEW reply_view; DROP VIEW comment_view;") == []


def test_order_a_referenced_table_and_a_function_before_their_dependents() -> None:
    forward = "CREATE TABLE a (id bigint PRIMARY KEY); CREATE TABLE b (a_id bigint REFERENCES a);"
    assert prove(forward, "DROP TABLE a; DROP TABLE b;") == [
        "error down.sql:1 rollback drops table a before table b that references it"
    ]
    assert prove(forward, "DROP TABLE b; DROP TABLE a;") == []
    fn = "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;"
    trigger = "CREATE TRIGGER g BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();"
    assert prove(f"{fn} {trigger}", "DROP FUNCTION f(); DROP TRIGGER g ON t;") == [
        "error down.sql:1 rollback drops function f before the trigger that uses it (g on t)"
    ]


def test_a_relation_the_rollback_rebuilds_takes_its_indexes_along() -> None:
    # regression from LemmyNet/lemmy 2020-02-06 change_post_title_length: both files rebuild the matview
    rebuild = (
        "DROP MATERIALIZED VIEW agg; CREATE MATERIALIZED VIEW agg AS SELECT * FROM post; "
        "CREATE UNIQUE INDEX agg_id ON agg (id);"
    )
    assert prove(rebuild, rebuild) == []


def test_a_rollback_that_sets_not_null_again_is_caught() -> None:
    # found in LemmyNet/lemmy 2020-08-25 add_unique_ap_ids: its rollback repeats SET NOT NULL
    forward = "ALTER TABLE post ALTER COLUMN ap_id SET NOT NULL;"
    assert prove(forward, "ALTER TABLE post ALTER COLUMN ap_id SET NOT NULL;") == [
        "error up.sql:1 forward sets NOT NULL on post.ap_id; rollback never drops NOT NULL again"
    ]


def test_views_from_earlier_migrations_count() -> None:
    history = "CREATE TABLE accounts (id bigint); CREATE VIEW report AS SELECT id FROM accounts;"
    assert prove("ALTER TABLE accounts RENAME TO old_accounts;", "ALTER TABLE old_accounts RENAME TO accounts;",
                 history=history) == []  # fmt: skip
    found = prove("CREATE TABLE x (id bigint);", "DROP TABLE x; DROP TABLE accounts;", history=history)
    assert found == ["error down.sql:1 rollback drops table accounts before the view that depends on it (report)"]


def test_statement_after_its_table_was_dropped() -> None:
    forward = "CREATE TABLE t (id bigint); CREATE INDEX t_id_idx ON t (id);"
    assert prove(forward, "DROP TABLE t; CREATE TRIGGER g BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();")[
        -1
    ].startswith("error down.sql:1 rollback create trigger on t after dropping table t")


def test_data_changes_are_not_provable() -> None:
    assert prove("UPDATE products SET unit = 'each' WHERE unit IS NULL;", "SELECT 1;") == [
        "warning up.sql:1 forward updates products (unit); whether the rollback restores the data is not "
        "statically provable, and it does not touch those rows"
    ]
    found = prove("UPDATE products SET unit = 'each' WHERE unit IS NULL;", "UPDATE products SET unit = NULL;")
    assert found[0].startswith("info up.sql:1 forward updates products (unit); the rollback changes the same table")
    assert prove("INSERT INTO settings (name) VALUES ('x');", "DELETE FROM settings WHERE name = 'x';")[0].startswith(
        "info"
    )


def test_enum_values_cannot_be_removed() -> None:
    assert prove("ALTER TYPE mood ADD VALUE 'sad';", "SELECT 1;") == [
        "warning up.sql:1 forward adds value 'sad' to enum mood; PostgreSQL cannot remove an enum value, so no "
        "rollback can undo it"
    ]


def test_point_of_no_return_is_exempt_and_says_so() -> None:
    assert prove("ALTER TABLE t DROP COLUMN c;", None, pnr="drops t.c") == [
        "info up.sql:1 point of no return (drops t.c): reversibility is not checked, by design"
    ]


def test_missing_rollback_file() -> None:
    assert prove("ALTER TABLE t ADD COLUMN c int;", None) == [
        "error up.sql:1 no rollback file down.sql and no point_of_no_return in the manifest"
    ]


def test_cleanup_drop_before_a_create_is_part_of_the_create() -> None:
    forward = "DROP INDEX CONCURRENTLY IF EXISTS i; CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);"
    assert prove(forward, "DROP INDEX CONCURRENTLY IF EXISTS i;") == []
    # an existing view redefined by DROP + CREATE: the definition is verify's business, not a missing undo
    history = "CREATE TABLE t (a int); CREATE VIEW v AS SELECT a FROM t;"
    assert prove("DROP VIEW v; CREATE VIEW v AS SELECT a, 1 AS b FROM t;", "SELECT 1;", history=history) == []


def test_undoing_statements_are_found_for_lint() -> None:
    forward = split_statements("ALTER TABLE t ADD COLUMN c int; CREATE TABLE n (id int);")
    rollback = split_statements("ALTER TABLE t DROP COLUMN c; DROP TABLE n; DROP TABLE unrelated;")
    assert reversibility.undoing_statements(forward, rollback) == {0, 1}


def test_changes_to_a_column_the_forward_file_added_go_with_it() -> None:
    # QA: Django's `sqlmigrate` output for a required column with a default, and its rollback
    forward = (
        'ALTER TABLE "users" ADD COLUMN "status" integer DEFAULT 1 NOT NULL; '
        'ALTER TABLE "users" ALTER COLUMN "status" DROP DEFAULT;'
    )
    assert prove(forward, 'ALTER TABLE "users" DROP COLUMN "status";') == []
    more = (
        "ALTER TABLE users ADD COLUMN plan text; ALTER TABLE users ALTER COLUMN plan SET NOT NULL; "
        "ALTER TABLE users ADD CONSTRAINT users_plan_check CHECK (plan <> ''); CREATE INDEX users_plan ON users (plan);"
    )
    assert prove(more, "ALTER TABLE users DROP COLUMN plan;") == []
    # a rollback that forgets the column is told about the column, once, not about each change to it
    assert prove(forward, "SELECT 1;") == ["error up.sql:1 forward adds column users.status; rollback never drops it"]
    # a change to a column that existed before still needs its own undo
    assert prove("ALTER TABLE users ALTER COLUMN email DROP DEFAULT;", "SELECT 1;") == [
        "error up.sql:1 forward drops the default of users.email; rollback never restores it"
    ]


def test_dropping_a_table_takes_its_triggers_and_indexes_along() -> None:
    # QA: the usual rollback order, the table (and with it its trigger) before the trigger's function
    forward = (
        "CREATE TABLE a (id bigint); "
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$; "
        "CREATE TRIGGER a_t BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION f(); "
        "CREATE INDEX a_id ON a (id);"
    )
    assert prove(forward, "DROP TABLE a; DROP FUNCTION f();") == []
    # …but the index went with the table too: dropping it afterwards fails
    assert prove(forward, "DROP TABLE a; DROP FUNCTION f(); DROP INDEX a_id;") == [
        "error down.sql:1 rollback drops index a_id after DROP TABLE a at line 1 dropped it along: PostgreSQL "
        'fails with "does not exist"'
    ]
    assert prove(forward, "DROP TABLE a; DROP FUNCTION f(); DROP INDEX IF EXISTS a_id;") == []


def test_cascade_drops_the_dependents() -> None:
    history = "CREATE TABLE t (id bigint);"
    fn = "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;"
    trigger = "CREATE TRIGGER g BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();"
    assert prove(f"{fn} {trigger}", "DROP FUNCTION f() CASCADE;", history=history) == []
    forward = "CREATE TABLE accounts (id bigint); CREATE VIEW active AS SELECT * FROM accounts;"
    assert prove(forward, "DROP TABLE accounts CASCADE; DROP VIEW active;") == [
        "error down.sql:1 rollback drops view active after DROP TABLE … CASCADE accounts at line 1 dropped it "
        'along: PostgreSQL fails with "does not exist"'
    ]


def test_a_restore_captured_rollback_undoes_the_batched_change() -> None:
    # QA: the README's capture recipe (batch: {table: accounts, capture: true}, rollback -- sqlmig:restore-captured)
    from sqlmig.manifest import Batch, Manifest

    update = split_statements("UPDATE accounts SET plan = 'free' WHERE plan IS NULL;")
    kw = {"forward_path": "up.sql", "rollback_path": "down.sql"}
    assert reversibility.prove(update, [], captured="accounts", **kw) == []
    assert [f.severity for f in reversibility.prove(update, [], **kw)] == ["warning"]
    manifest = Manifest(description="x", phase="migrate", batch=Batch(table="accounts", capture=True))
    assert reversibility.captured_table(manifest, "-- sqlmig:restore-captured\n") == "accounts"
    assert reversibility.captured_table(manifest, "SELECT 1;\n") is None
    uncaptured = Manifest(description="x", phase="migrate", batch=Batch(table="accounts"))
    assert reversibility.captured_table(uncaptured, "-- sqlmig:restore-captured\n") is None
    # only the batch table's rows are captured
    other = split_statements("UPDATE plans SET price = 0;")
    assert [f.severity for f in reversibility.prove(other, [], captured="accounts", **kw)] == ["warning"]


def test_unquoted_non_ascii_names() -> None:
    # QA: PostgreSQL takes non-ASCII letters in unquoted identifiers
    assert prove("CREATE TABLE café (naïve int);", "SELECT 1;") == [
        "error up.sql:1 forward creates table café; rollback never drops it"
    ]
    assert prove("CREATE TABLE café (naïve int); ALTER TABLE café ADD COLUMN prix int;", "DROP TABLE café;") == []
