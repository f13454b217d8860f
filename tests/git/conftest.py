"""A temporary git repository holding a sqlmig project, and helpers to branch, commit and merge in it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "sqlmig tests", "GIT_AUTHOR_EMAIL": "tests@sqlmig.invalid",
    "GIT_COMMITTER_NAME": "sqlmig tests", "GIT_COMMITTER_EMAIL": "tests@sqlmig.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}  # fmt: skip


class Repo:
    def __init__(self, root: Path, project: Path) -> None:
        self.root = root
        self.project = project  # the sqlmig project folder (the root, or a subfolder)

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run(["git", *args], cwd=self.root, env={**os.environ, **GIT_ENV}, capture_output=True,
                             text=True)  # fmt: skip
        if check and res.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
        return res

    def write(self, rel: str, text: str) -> None:
        path = self.project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def add_migration(self, stem: str, up: str, down: str, manifest: str = "description: x\nphase: expand\n") -> None:
        self.write(f"migrations/{stem}.sql", up)
        self.write(f"rollback/{stem}.sql", down)
        self.write(f"manifests/{stem}.yaml", manifest)

    def commit_column(self, stem: str, column: str, message: str) -> None:
        """Add a migration that adds products.<column> (text), update migrations.sum, commit."""
        self.add_migration(stem, f"ALTER TABLE products ADD COLUMN {column} text;\n",
                           f"ALTER TABLE products DROP COLUMN {column};\n")  # fmt: skip
        self.hash()
        self.commit(message)

    def hash(self) -> None:
        """What `sqlmig hash` does (in-process: these tests are about git, not the command line)."""
        from sqlmig.integrity import write_sum

        write_sum(self.project)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)


def make_repo(tmp_path: Path, subfolder: str = "") -> Repo:
    root = tmp_path / "repo"
    root.mkdir()
    repo = Repo(root, root / subfolder if subfolder else root)
    repo.git("init", "-q", "-b", "main")
    repo.add_migration("00001_create_products", "CREATE TABLE products (id bigint PRIMARY KEY, sku text);\n",
                       "DROP TABLE products;\n", "description: Create products.\nphase: expand\n")  # fmt: skip
    repo.add_migration("00002_add_unit", "ALTER TABLE products ADD COLUMN unit text;\n",
                       "ALTER TABLE products DROP COLUMN unit;\n",
                       "description: Add products.unit.\nphase: expand\n")  # fmt: skip
    repo.hash()
    repo.commit("base: two migrations")
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path)
