"""`sqlmig check --base`: a temporary repository with a base and a head branch, read through git without a checkout."""

from __future__ import annotations

import json
import re

from tests.git.conftest import Repo, make_repo


def check(cli, repo: Repo, *args: str):
    return cli("check", "--project", str(repo.project), *args)


def test_clean_branch_with_a_new_migration_passes(repo: Repo, cli) -> None:
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit_column("00003_add_weight", "weight", "add weight")
    res = check(cli, repo, "--base", "main")
    assert (res.returncode, res.stdout) == (0, "no problems found\n"), res.stderr
    assert "checked 3 migrations, 1 new against main (" in res.stderr


def test_edited_migration_that_exists_on_the_base_is_exit_3_at_the_changed_line(repo: Repo, cli) -> None:
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("migrations/00001_create_products.sql",
               "CREATE TABLE products (\n    id bigint PRIMARY KEY,\n    sku text NOT NULL\n);\n")  # fmt: skip
    repo.hash()  # even with a fresh migrations.sum: the base is what counts
    repo.commit("tidy 00001")
    res = check(cli, repo, "--base", "main", "--format", "json")
    assert res.returncode == 3, res.stderr
    found = json.loads(res.stdout)["findings"]
    assert [(f["rule"], f["severity"], f["path"], f["line"]) for f in found] == [
        ("check/edited", "error", "migrations/00001_create_products.sql", 1)
    ]
    assert found[0]["message"] == ("edited, but this migration is already on main: databases that applied it "
                                   "would not get the change")  # fmt: skip
    assert found[0]["hint"] == ("restore it (git checkout main -- migrations/00001_create_products.sql) and make "
                                "the change in a new migration (`sqlmig new`)")  # fmt: skip


def test_the_line_of_the_first_difference_and_github_annotations(repo: Repo, cli) -> None:
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("manifests/00002_add_unit.yaml", "description: Add products.unit.\nphase: expand\nowner: catalog\n")
    repo.hash()
    repo.commit("owner")
    res = check(cli, repo, "--base", "main", "--format", "github")
    assert res.returncode == 3
    assert res.stdout.splitlines() == [
        "::error file=manifests/00002_add_unit.yaml,line=3,col=1,title=check/edited::check/edited: edited, but this "
        "migration is already on main: databases that applied it would not get the change (hint: restore it "
        "(git checkout main -- manifests/00002_add_unit.yaml) and make the change in a new migration (`sqlmig new`))",
        "1 error in 1 file",
    ]


def test_working_tree_edits_count_without_a_commit(repo: Repo, cli) -> None:
    repo.write("rollback/00002_add_unit.sql", "ALTER TABLE products DROP COLUMN IF EXISTS unit;\n")
    res = check(cli, repo, "--base", "HEAD")
    assert res.returncode == 3
    assert "rollback/00002_add_unit.sql:1:1: check/edited error edited, but" in res.stdout
    assert res.stdout.splitlines()[2:4] == [
        "rollback/00002_add_unit.sql:1:1: check/sum error differs from its checksum in migrations.sum (line 10 of "
        "migrations.sum): this migration is on HEAD, so it was edited after it shipped",
        "    hint: do not re-hash it: restore it (git checkout HEAD -- rollback/00002_add_unit.sql) and make the "
        "change in a new migration (`sqlmig new`)",
    ]
    assert "sqlmig hash" not in res.stdout


def test_new_version_older_than_the_base_newest_is_out_of_order(repo: Repo, cli) -> None:
    """Timestamped versions: a branch's migration written before another branch's, merged after it."""
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit_column("20260102090000_add_colour", "colour", "colour, written on 2 January")
    repo.git("checkout", "-q", "main")
    repo.commit_column("20260103090000_add_weight", "weight", "weight, written on 3 January, merged first")
    repo.git("checkout", "-q", "feature")
    res = check(cli, repo, "--base", "main")
    assert res.returncode == 3
    assert res.stdout.splitlines()[:2] == [
        "migrations/20260102090000_add_colour.sql:1:1: check/out-of-order error version 20260102090000 sorts before "
        "20260103090000_add_weight, the newest on main: databases already past it would apply this one out of order",
        "    hint: merge main into this branch, then `sqlmig new --renumber 20260102090000_add_colour`; for a "
        "phase-based deploy that means it, pass --allow-out-of-order",
    ]
    assert (
        "migrations/20260103090000_add_weight.sql:1:1: check/behind-base info on main but not on this branch yet"
    ) in res.stdout  # not "removed": main gained it after the branch forked
    allowed = check(cli, repo, "--base", "main", "--allow-out-of-order")
    assert allowed.returncode == 0 and "check/out-of-order info" in allowed.stdout
    assert repo.git("merge", "main", check=False).returncode != 0  # migrations.sum conflicts, as it should
    assert cli("hash", "--project", str(repo.project)).returncode == 0
    moved = cli("new", "--renumber", "20260102090000", "--project", str(repo.project))
    assert moved.returncode == 0, moved.stderr
    old, new = moved.stdout.splitlines()[0].split(" -> ")
    assert old == "migrations/20260102090000_add_colour.sql"
    assert re.fullmatch(r"migrations/[0-9]{14}_add_colour\.sql", new) and new > "migrations/20260103090000"
    repo.commit("merge main; renumber add_colour")
    res = check(cli, repo, "--base", "main")
    assert (res.returncode, res.stdout) == (0, "no problems found\n")


def test_removed_and_renamed_base_migrations(repo: Repo, cli) -> None:
    repo.git("checkout", "-q", "-b", "feature")
    repo.git("mv", "migrations/00002_add_unit.sql", "migrations/00002_add_units.sql")
    repo.git("mv", "rollback/00002_add_unit.sql", "rollback/00002_add_units.sql")
    repo.git("mv", "manifests/00002_add_unit.yaml", "manifests/00002_add_units.yaml")
    repo.git("rm", "-q", "migrations/00001_create_products.sql", "rollback/00001_create_products.sql",
             "manifests/00001_create_products.yaml")  # fmt: skip
    repo.hash()
    repo.commit("rename and remove")
    res = check(cli, repo, "--base", "main", "--format", "json")
    assert res.returncode == 3
    found = [(f["rule"], f["path"], f["message"]) for f in json.loads(res.stdout)["findings"]]
    assert found == [
        ("check/removed", "migrations/00001_create_products.sql",
         "removed, but this migration is on main and may have run"),
        ("check/renamed", "migrations/00002_add_units.sql",
         "renamed from 00002_add_unit (on main); a migration's name is part of its identity in every database's "
         "history"),
    ]  # fmt: skip


def test_concurrent_additions_collide_in_migrations_sum(repo: Repo, cli) -> None:
    """Two branches each add a migration with `sqlmig new`: merging the second conflicts on migrations.sum."""
    project = str(repo.project)
    for branch, name in (("feature-a", "add_weight"), ("feature-b", "add_colour")):
        repo.git("checkout", "-q", "-b", branch, "main")
        created = cli("new", name, "--sequential", "--project", project)
        assert created.returncode == 0, created.stderr
        stem = f"00003_{name}"
        repo.write(f"migrations/{stem}.sql", f"ALTER TABLE products ADD COLUMN {name[4:]} text;\n")
        repo.write(f"rollback/{stem}.sql", f"ALTER TABLE products DROP COLUMN {name[4:]};\n")
        repo.write(f"manifests/{stem}.yaml", f"description: Add products.{name[4:]}.\nphase: expand\n")
        assert cli("hash", "--project", project).returncode == 0
        repo.commit(f"add {name}")
        assert check(cli, repo, "--base", "main").returncode == 0
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "feature-a")  # the first pull request lands
    repo.git("checkout", "-q", "feature-b")
    merged = repo.git("merge", "main", check=False)  # the second one catches up with main
    assert merged.returncode != 0
    assert "CONFLICT (content): Merge conflict in migrations.sum" in merged.stdout
    conflicted = check(cli, repo)
    assert conflicted.returncode == 3
    assert "migrations.sum:5:1: check/sum error holds merge conflict markers: two branches added migrations" in (
        conflicted.stdout
    )
    assert cli("hash", "--project", project).returncode == 0  # the documented resolution
    duplicate = check(cli, repo)
    assert duplicate.returncode == 2
    assert "duplicate version 00003 (also migrations/00003_add_colour.sql)" in duplicate.stdout
    moved = cli("new", "--renumber", "00003_add_colour", "--project", project)
    assert moved.stdout.splitlines()[0] == "migrations/00003_add_colour.sql -> migrations/00004_add_colour.sql"
    repo.commit("merge main; renumber add_colour after add_weight")
    res = check(cli, repo, "--base", "main")
    assert (res.returncode, res.stdout) == (0, "no problems found\n"), res.stdout


def test_without_migrations_sum_the_same_branches_merge_silently(tmp_path, cli) -> None:
    """The counterfactual: without the sum file git merges both, and only the duplicate version remains."""
    repo = make_repo(tmp_path)
    repo.git("rm", "-q", "migrations.sum")
    repo.commit("no sum")
    for branch, name in (("feature-a", "add_weight"), ("feature-b", "add_colour")):
        repo.git("checkout", "-q", "-b", branch, "main")
        repo.add_migration(f"00003_{name}", "SELECT 1;\n", "SELECT 1;\n")
        repo.commit(f"add {name}")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "feature-a")
    repo.git("checkout", "-q", "feature-b")
    assert repo.git("merge", "-q", "--no-edit", "main", check=False).returncode == 0


def test_project_in_a_subfolder_annotates_repository_paths(tmp_path, cli) -> None:
    repo = make_repo(tmp_path, subfolder="db")
    repo.write("migrations/00002_add_unit.sql", "ALTER TABLE products ADD COLUMN unit varchar(10);\n")
    res = check(cli, repo, "--base", "main", "--format", "github")
    assert res.returncode == 3
    assert res.stdout.startswith("::error file=db/migrations/00002_add_unit.sql,line=1,col=1,title=check/edited::")


def test_unknown_base_ref_and_no_repository_are_exit_2(repo: Repo, cli, tmp_path) -> None:
    res = check(cli, repo, "--base", "origin/main")
    assert res.returncode == 2
    assert res.stderr.splitlines()[:2] == [
        "error: --base origin/main: no such commit, branch or tag in this clone",
        "  hint: fetch it first (git fetch origin main); in GitHub Actions check out with fetch-depth: 0 so the "
        "base branch is there",
    ]
    outside = tmp_path / "plain"
    (outside / "migrations").mkdir(parents=True)
    res = cli("check", "--project", str(outside), "--base", "main")
    assert res.returncode == 2
    assert "--base needs a git repository" in res.stderr


def test_same_version_added_on_both_sides_is_a_collision_not_a_rename(repo: Repo, cli) -> None:
    """QA: feat adds 00003_add_x; after the fork main adds 00003_add_y and 00004_add_z. Nothing was renamed."""
    repo.git("checkout", "-q", "-b", "feat")
    repo.commit_column("00003_add_x", "x", "add x")
    repo.git("checkout", "-q", "main")
    repo.commit_column("00003_add_y", "y", "add y")
    repo.commit_column("00004_add_z", "z", "add z")
    repo.git("checkout", "-q", "feat")
    res = check(cli, repo, "--base", "main")
    assert res.returncode == 3, res.stdout
    assert "check/renamed" not in res.stdout and "git mv" not in res.stdout
    assert res.stdout.splitlines()[:2] == [
        "migrations/00003_add_x.sql:1:1: check/version-collision error version 00003 was also added on main "
        "(00003_add_y) since this branch forked: merged, two migrations would share it",
        "    hint: git merge main, then `sqlmig new --renumber 00003_add_x` to move this branch's migration after "
        "main's newest",
    ]
    for stem in ("00003_add_y", "00004_add_z"):
        assert f"migrations/{stem}.sql:1:1: check/behind-base info on main but not on this branch yet" in res.stdout
    assert "check/out-of-order" not in res.stdout  # the collision says it all
    assert "checked 3 migrations, 1 new against main (" in res.stderr
    # The fix the hint gives works: merge (migrations.sum conflicts), hash, renumber, and check passes.
    assert repo.git("merge", "main", check=False).returncode != 0
    assert cli("hash", "--project", str(repo.project)).returncode == 0
    merged = check(cli, repo, "--base", "main")
    assert merged.returncode == 3 and "check/version-collision error version 00003 is also 00003_add_y on main" in (
        merged.stdout
    ), merged.stdout
    moved = cli("new", "--renumber", "00003_add_x", "--project", str(repo.project))
    assert moved.stdout.splitlines()[0] == "migrations/00003_add_x.sql -> migrations/00005_add_x.sql", moved.stderr
    repo.commit("merge main; renumber add_x")
    res = check(cli, repo, "--base", "main")
    assert (res.returncode, res.stdout) == (0, "no problems found\n"), res.stdout
    assert "checked 5 migrations, 1 new against main (" in res.stderr


def test_a_rename_is_a_base_migration_that_was_there_at_the_fork(repo: Repo, cli) -> None:
    """Renamed on this branch while main moved on: still a rename (00002 was on main when the branch forked)."""
    repo.git("checkout", "-q", "-b", "feat")
    for folder, ext in (("migrations", "sql"), ("rollback", "sql"), ("manifests", "yaml")):
        repo.git("mv", f"{folder}/00002_add_unit.{ext}", f"{folder}/00002_add_units.{ext}")
    repo.hash()
    repo.commit("rename")
    repo.git("checkout", "-q", "main")
    repo.commit_column("00003_add_y", "y", "add y")
    repo.git("checkout", "-q", "feat")
    res = check(cli, repo, "--base", "main", "--format", "json")
    assert res.returncode == 3
    data = json.loads(res.stdout)
    assert [(f["rule"], f["path"]) for f in data["findings"]] == [
        ("check/renamed", "migrations/00002_add_units.sql"),
        ("check/behind-base", "migrations/00003_add_y.sql"),
    ]
    assert data["new"] == []
