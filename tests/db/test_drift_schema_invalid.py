"""Drift and INVALID indexes: a failed CREATE INDEX CONCURRENTLY leaves an artifact, not a schema object. It never
enters the recorded baseline, it is reported on its own, and dropping it as sqlmig's hint says is not drift.
Also: drift's GitHub annotations name no file (there is none for a live object)."""

from __future__ import annotations

import json

from sqlmig import drift, fingerprint
from sqlmig.history import History

USERS = (
    "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n"
    "INSERT INTO users VALUES (1, 'a@example.com'), (2, 'a@example.com'), (3, 'b@example.com');\n"
)
UNIQUE = "CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);\n"


def _run(cli, project, database_url, *args):
    return cli(*args, "--database-url", database_url, "--project", str(project.root))


def _fail_a_concurrent_build(project, database_url, cli):
    project.add("0001_users", USERS, "DROP TABLE users;")
    project.add("0002_unique_email", UNIQUE, "DROP INDEX CONCURRENTLY users_email_key;", {"transaction": "none"})
    res = _run(cli, project, database_url, "apply", "--yes")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "drop it (DROP INDEX CONCURRENTLY)" in res.stderr  # the hint this test follows


def test_following_the_hint_after_a_failed_concurrent_build_is_not_drift(project, database_url, db, cli):
    _fail_a_concurrent_build(project, database_url, cli)
    valid = db.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email_key'::regclass").fetchone()
    assert valid == (False,)
    res = _run(cli, project, database_url, "drift")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "drift: none; the schema is as sqlmig left it" in res.stdout
    assert "index users_email_key is INVALID" in res.stdout and "DROP INDEX CONCURRENTLY users_email_key" in res.stdout
    data = json.loads(_run(cli, project, database_url, "drift", "--format", "json").stdout)
    assert data["changes"] == [] and [i["name"] for i in data["invalid_indexes"]] == ["users_email_key"]

    db.execute("DROP INDEX CONCURRENTLY users_email_key")  # as the hint says
    db.execute("DELETE FROM users WHERE id = 2")  # and the data fixed
    res = _run(cli, project, database_url, "apply", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "changed outside sqlmig" not in res.stderr and "missing" not in res.stderr
    res = _run(cli, project, database_url, "drift")
    assert res.returncode == 0 and "INVALID" not in res.stdout, res.stdout + res.stderr


def test_apply_warns_about_an_invalid_index_left_in_place(project, database_url, cli):
    _fail_a_concurrent_build(project, database_url, cli)
    project.add("0003_more", "ALTER TABLE users ADD COLUMN note text;", "ALTER TABLE users DROP COLUMN note;")
    res = _run(cli, project, database_url, "apply", "--yes", "--to", "0001")  # nothing to do: no check
    res = _run(cli, project, database_url, "apply", "--yes")
    assert "warning: index users_email_key is INVALID" in res.stderr
    assert "changed outside sqlmig" not in res.stderr


def test_a_baseline_recorded_with_an_invalid_index_does_not_report_it_missing(project, database_url, db, cli):
    _fail_a_concurrent_build(project, database_url, cli)
    settings = project.settings(database_url)
    whole = drift.take(db, settings)  # as an earlier sqlmig recorded it: the INVALID index included
    assert "users_email_key" in whole.snapshot["index"]
    History(db, settings.history_schema, settings.history_table).record_snapshot(
        "apply", "0002", whole.hash, whole.server_version, whole.compress()
    )
    db.execute("DROP INDEX CONCURRENTLY users_email_key")
    res = _run(cli, project, database_url, "drift")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "missing" not in res.stdout


def test_an_unattached_partitioned_index_stays_in_the_baseline(project, database_url, db, cli):
    project.add("0001_parted", "CREATE TABLE p (a int, b int) PARTITION BY RANGE (a);\n"
                "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);\n"
                "CREATE INDEX p_b ON ONLY p (b);\n", "DROP TABLE p;")  # fmt: skip
    assert _run(cli, project, database_url, "apply", "--yes").returncode == 0
    blob = db.execute("SELECT snapshot FROM sqlmig_history_snapshots").fetchone()[0]
    assert fingerprint.decompress(bytes(blob))["index"]["p_b"]["invalid"] is True  # INVALID by design, kept
    db.execute("DROP INDEX p_b")
    res = _run(cli, project, database_url, "drift")
    assert res.returncode == 3 and "index p_b: missing" in res.stdout, res.stdout + res.stderr


def test_github_annotations_for_drift_name_no_file(project, database_url, db, cli):
    project.add("0001_users", USERS, "DROP TABLE users;")
    assert _run(cli, project, database_url, "apply", "--yes").returncode == 0
    db.execute("CREATE INDEX users_email_hand ON users (email)")
    res = _run(cli, project, database_url, "drift", "--format", "github")
    assert res.returncode == 3, res.stdout + res.stderr
    first = res.stdout.splitlines()[0]
    assert first.startswith("::error title=drift/index::") and "file=" not in res.stdout, res.stdout
    assert "index users_email_hand: added" in first
