"""The sqlmig-lint hook under the real pre-commit tool: a commit with a dangerous migration is refused.

A temporary git repository uses this repository as a pre-commit hook repository (at its current
commit, so it tests what is committed). pre-commit builds the hook's own virtualenv from it with
pip (PyPI must be reachable); its cache lives in the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")


def git(cwd: Path, *args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=check)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict]:
    if not PRE_COMMIT.exists() or shutil.which("git") is None:
        pytest.skip("pre-commit (the test extra) and git are needed")
    rev = git(REPO, "rev-parse", "HEAD").stdout.strip()
    root = tmp_path / "app"
    root.mkdir()
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": f"{PRE_COMMIT.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    git(root, "init", "-q", "-b", "main", env=env)
    (root / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {REPO.as_uri()}\n    rev: {rev}\n    hooks:\n      - id: sqlmig-lint\n"
    )
    for sub in ("migrations", "rollback", "manifests"):
        (root / sub).mkdir()
    (root / "migrations" / "0001_users.sql").write_text("CREATE TABLE users (id bigint PRIMARY KEY, email text);\n")
    (root / "rollback" / "0001_users.sql").write_text("DROP TABLE users;\n")
    (root / "manifests" / "0001_users.yaml").write_text("description: users\nphase: expand\n")
    installed = subprocess.run([str(PRE_COMMIT), "install"], cwd=root, env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    git(root, "add", "-A", env=env)
    first = git(root, "commit", "-q", "-m", "users", env=env, check=False)
    assert first.returncode == 0, first.stdout + first.stderr  # a clean migration passes the hook
    return root, env


def test_commit_with_a_blocking_index_is_refused(repo: tuple[Path, dict]) -> None:
    root, env = repo
    (root / "migrations" / "0002_users_email_idx.sql").write_text("CREATE INDEX users_email_idx ON users (email);\n")
    (root / "rollback" / "0002_users_email_idx.sql").write_text("DROP INDEX users_email_idx;\n")
    (root / "manifests" / "0002_users_email_idx.yaml").write_text("description: index emails\nphase: expand\n")
    git(root, "add", "-A", env=env)
    refused = git(root, "commit", "-m", "index emails", env=env, check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "sqlmig lint" in output and "Failed" in output
    assert "migrations/0002_users_email_idx.sql:1:1: SM050 error CREATE INDEX users_email_idx holds SHARE" in output
    assert git(root, "rev-list", "--count", "HEAD", env=env).stdout.strip() == "1"  # nothing was committed

    # The fix the hint gives passes: a concurrent build in a migration without a transaction.
    (root / "migrations" / "0002_users_email_idx.sql").write_text(
        "DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);\n"
    )
    (root / "rollback" / "0002_users_email_idx.sql").write_text("DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;\n")
    (root / "manifests" / "0002_users_email_idx.yaml").write_text(
        "description: index emails\nphase: expand\ntransaction: none\n"
    )
    git(root, "add", "-A", env=env)
    accepted = git(root, "commit", "-m", "index emails concurrently", env=env, check=False)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
