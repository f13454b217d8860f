"""The composite action's check step (action.yml), run with bash as GitHub runs it, in a clone with an origin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO
from tests.git.conftest import GIT_ENV, Repo


def check_step() -> dict:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    (step,) = [s for s in action["runs"]["steps"] if s.get("name") == "sqlmig check"]
    return step


def run_step(repo: Repo, **env: str) -> subprocess.CompletedProcess:
    step = check_step()
    assert set(step["env"]) == {"SQLMIG_PROJECT", "SQLMIG_BASE", "SQLMIG_STRICT", "SQLMIG_ALLOW_OUT_OF_ORDER"}
    defaults = {"SQLMIG_PROJECT": ".", "SQLMIG_BASE": "", "SQLMIG_STRICT": "false",
                "SQLMIG_ALLOW_OUT_OF_ORDER": "false"}  # fmt: skip
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # the venv's sqlmig
    full = {**os.environ, **GIT_ENV, **defaults, **env, "PATH": path}
    if "GITHUB_BASE_REF" not in env:
        full.pop("GITHUB_BASE_REF", None)
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=repo.root,
                          env=full, capture_output=True, text=True)  # fmt: skip


def with_origin(repo: Repo, tmp_path: Path) -> None:
    """A bare origin holding main; the clone forgets origin/main, as a shallow PR checkout would not have it."""
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.root), str(tmp_path / "origin.git")], check=True,
                   env={**os.environ, **GIT_ENV})  # fmt: skip
    repo.git("remote", "add", "origin", str(tmp_path / "origin.git"))


def test_pull_request_base_is_fetched_and_findings_are_annotations(repo: Repo, tmp_path: Path) -> None:
    with_origin(repo, tmp_path)
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("migrations/00002_add_unit.sql", "ALTER TABLE products ADD COLUMN unit varchar(20);\n")
    repo.hash()
    repo.commit("edit a migration that is on main")
    assert repo.git("rev-parse", "--verify", "--quiet", "origin/main", check=False).returncode != 0
    res = run_step(repo, GITHUB_BASE_REF="main")
    assert res.returncode == 3, res.stderr
    assert res.stdout.startswith("::error file=migrations/00002_add_unit.sql,line=1,col=1,title=check/edited::")
    assert "checked 2 migrations, 0 new against origin/main (" in res.stderr


def test_clean_pull_request_and_a_push_without_base(repo: Repo, tmp_path: Path) -> None:
    with_origin(repo, tmp_path)
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit_column("00003_add_weight", "weight", "add weight")
    res = run_step(repo, GITHUB_BASE_REF="main")
    assert (res.returncode, res.stdout) == (0, "no problems found\n"), res.stderr
    res = run_step(repo)  # a push: no base branch, files only
    assert (res.returncode, res.stderr) == (0, "checked 3 migrations\n")


def test_strict_makes_warnings_fail(repo: Repo) -> None:
    repo.write("migrations/00003_fix.sql", "UPDATE products SET sku = upper(sku);\n")
    repo.write("rollback/00003_fix.sql", "SELECT 1;\n")
    repo.write("manifests/00003_fix.yaml", "description: Upper-case skus.\nphase: migrate\n")
    repo.hash()
    assert run_step(repo).returncode == 0
    res = run_step(repo, SQLMIG_STRICT="true")
    assert res.returncode == 2
    assert res.stdout.startswith("::warning file=migrations/00003_fix.sql,line=1,col=1,title=check/unbatched::")
