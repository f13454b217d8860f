"""Settings precedence (flag > SQLMIG_DATABASE_URL > DATABASE_URL > sqlmig.toml > [tool.sqlmig]) and masking."""

from __future__ import annotations

import pytest

from sqlmig.config import load_settings
from sqlmig.db import _secrets, check_url, mask_url
from sqlmig.errors import UsageError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("DATABASE_URL", "SQLMIG_DATABASE_URL", "SQLMIG_LOCK_WAIT", "SQLMIG_HISTORY_SCHEMA",
                 "SQLMIG_HISTORY_TABLE", "SQLMIG_LOCK_TIMEOUT", "SQLMIG_STATEMENT_TIMEOUT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_database_url_precedence(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.sqlmig]\ndatabase_url = "postgresql:///from_pyproject"\n')
    s = load_settings(tmp_path)
    assert (s.database_url, s.database_url_source) == ("postgresql:///from_pyproject", "pyproject.toml")
    (tmp_path / "sqlmig.toml").write_text('database_url = "postgresql:///from_toml"\n')
    s = load_settings(tmp_path)
    assert (s.database_url, s.database_url_source) == ("postgresql:///from_toml", "sqlmig.toml")
    monkeypatch.setenv("DATABASE_URL", "postgresql:///from_database_url")
    s = load_settings(tmp_path)
    assert (s.database_url, s.database_url_source) == ("postgresql:///from_database_url", "$DATABASE_URL")
    monkeypatch.setenv("SQLMIG_DATABASE_URL", "postgresql:///from_sqlmig_env")
    s = load_settings(tmp_path)
    assert (s.database_url, s.database_url_source) == ("postgresql:///from_sqlmig_env", "$SQLMIG_DATABASE_URL")
    s = load_settings(tmp_path, database_url="postgresql:///from_flag")
    assert (s.database_url, s.database_url_source) == ("postgresql:///from_flag", "--database-url")


def test_sqlmig_toml_wins_over_pyproject_as_a_whole(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.sqlmig]\nlock_wait = 7\nhistory_table = "from_pyproject"\n')
    assert load_settings(tmp_path).lock_wait == 7
    (tmp_path / "sqlmig.toml").write_text("lock_wait = 9\n")
    s = load_settings(tmp_path)
    assert (s.lock_wait, s.history_table) == (9, "sqlmig_history")
    assert s.source_file == tmp_path / "sqlmig.toml"


def test_environment_beats_file_and_flags_beat_environment(tmp_path, monkeypatch):
    (tmp_path / "sqlmig.toml").write_text('lock_wait = 9\nhistory_schema = "ops"\nlock_timeout = "2s"\n')
    monkeypatch.setenv("SQLMIG_LOCK_WAIT", "3")
    monkeypatch.setenv("SQLMIG_HISTORY_SCHEMA", "audit")
    s = load_settings(tmp_path)
    assert (s.lock_wait, s.history_schema, s.lock_timeout) == (3.0, "audit", "2s")
    assert load_settings(tmp_path, lock_wait=0.5).lock_wait == 0.5
    assert load_settings(tmp_path, lock_wait=None).lock_wait == 3.0  # None: the flag was not given


def test_defaults_protect_production(tmp_path):
    s = load_settings(tmp_path)
    assert s.database_url is None and s.lock_timeout == "5s" and s.retries == 3 and s.lock_wait == 60
    assert (s.history_schema, s.history_table) == ("public", "sqlmig_history")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("lock_wiat = 3\n", "unknown configuration key 'lock_wiat'"),
        ('lock_wait = "soon"\n', "invalid value for lock_wait"),
        ("lock_wait = \n", "cannot read configuration"),
        ('history_schema = "a; DROP TABLE x"\n', "history_schema must be a plain identifier"),
        ("sync_commit = true\n", "invalid value for sync_commit: True (expected a string)"),
        (f'history_table = "{"h" * 62}"\n', "history_table must be at most 61 characters, got 62"),
        ('sync_commit = "sometimes"\n', "sync_commit must be one of run, each, got 'sometimes'"),
    ],
)
def test_bad_configuration_is_a_usage_error_naming_the_file(tmp_path, content, message):
    (tmp_path / "sqlmig.toml").write_text(content)
    with pytest.raises(UsageError) as info:
        load_settings(tmp_path)
    assert message in info.value.message
    assert info.value.exit_code == 2


def test_missing_project_directory(tmp_path):
    with pytest.raises(UsageError, match=r"project folder .*nope does not exist") as info:
        load_settings(tmp_path / "nope")
    assert "pass --project" not in info.value.render()  # the user did; say what is wrong with it
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="is not a folder"):
        load_settings(tmp_path / "file")


@pytest.mark.parametrize(("flags", "env", "message"), [
    ({"lock_wait": -1.0}, {}, "--lock-wait / lock_wait (seconds; 0: try the lock once) must be 0 or more, got -1"),
    ({}, {"SQLMIG_LOCK_WAIT": "-0.5"}, "must be 0 or more, got -0.5"),
])  # fmt: skip
def test_a_negative_lock_wait_is_refused(tmp_path, monkeypatch, flags, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UsageError) as info:
        load_settings(tmp_path, **flags)
    assert info.value.message.endswith(message)
    assert load_settings(tmp_path, lock_wait=0.0).lock_wait == 0


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:secret@db.internal:5432/shop", "postgresql://u:***@db.internal:5432/shop"),
        ("postgres://u:p%40ss@h/db", "postgres://u:***@h/db"),
        ("postgresql://u@h/db?password=secret&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
        ("postgresql://u@/db?host=/var/run/postgresql", "postgresql://u@/db?host=/var/run/postgresql"),
        ("host=h user=u password=secret dbname=db", "host=h user=u password=*** dbname=db"),
        ("host=h password = 'sec ret' dbname=db", "host=h password = *** dbname=db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        # unencoded reserved characters in the password: everything up to the last @ is userinfo
        ("postgresql://postgres:Secret/Part2@h:5515/ex1", "postgresql://postgres:***@h:5515/ex1"),
        ("postgresql://postgres:Secret#Part2@h/ex1", "postgresql://postgres:***@h/ex1"),
        ("postgresql://postgres:Sec?ret@h/ex1", "postgresql://postgres:***@h/ex1"),
        ("postgresql://postgres:p@ss:w/rd#1@h/ex1", "postgresql://postgres:***@h/ex1"),
        ("postgresql://u@h/db?sslmode=require&password=a#b", "postgresql://u@h/db?sslmode=require&password=***"),
    ],
)
def test_mask_url(url, shown):
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("postgresql://u:secret@h/db", {"secret"}),
        ("postgresql://u:p%40ss@h/db", {"p%40ss", "p@ss"}),
        ("postgresql://u@h/db?password=ab%20cd", {"ab cd", "ab%20cd"}),
        ("postgresql://u:Sec?ret#x@h/db", {"Sec?ret#x"}),
        ("host=h password='sec ret' dbname=db", {"sec ret"}),
    ],
)
def test_secrets_to_scrub_include_the_decoded_password(url, secrets):
    assert secrets <= set(_secrets(url))


def test_short_passwords_are_not_scrubbed_letter_by_letter():
    """Replacing a one-letter password everywhere garbled libpq's text ('Servname not su***orted')."""
    assert _secrets("postgresql://u:p@h/db") == []
    assert _secrets("host=h password=abc") == []


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("postgresql://postgres:Secret/Part2@h/ex1", True),
        ("postgresql://postgres:p@ss@h/ex1", True),
        ("postgresql://u:pw@h/db?application_name=a@b", True),  # ambiguous: the @ must be %40
        ("postgresql://postgres:Sec?ret#x@h/ex1", False),  # libpq reads ? and # in the userinfo right
        ("postgresql://postgres:p%40ss%2Fx@h/ex1", False),
        ("postgresql://u@h/db?application_name=a@b", False),  # no password to misread
        ("host=h password=a/b@c", False),
    ],
)
def test_check_url_refuses_urls_libpq_would_misread(url, refused):
    if refused:
        with pytest.raises(UsageError, match="cannot tell where the password ends") as info:
            check_url(url)
        assert "%2F" in info.value.hint and "pw" not in info.value.render().replace("password", "")
    else:
        check_url(url)
