"""Project loading: naming, pairing, ordering, every problem reported at once, naming the file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sqlmig.errors import ProjectError, UsageError
from sqlmig.project import load_project, load_project_deferred
from sqlmig.scaffold import next_version


def test_versions_order_numerically_and_files_pair_up(project):
    project.add("10_ten", "SELECT 10;")
    project.add("9_nine", "SELECT 9;")
    project.add("20261126101500_stamp", "SELECT 1;")
    loaded = load_project(project.settings())
    assert [m.stem for m in loaded.migrations] == ["9_nine", "10_ten", "20261126101500_stamp"]
    m = loaded.find("10")
    assert m.up.display == "migrations/10_ten.sql" and m.rollback.display == "rollback/10_ten.sql"
    assert m.manifest_display == "manifests/10_ten.yaml"
    assert loaded.find("0010") is m and loaded.find("11") is None


def test_every_problem_is_reported_at_once_with_its_file(project):
    root = project.root
    project.add("00001_ok", "SELECT 1;")
    project.add("00002_dup", "SELECT 1;")
    project.add("002_dup_again", "SELECT 1;")
    project.add("00003_no_rollback", "SELECT 1;", down=None)
    (root / "migrations" / "00004_no_manifest.sql").write_text("SELECT 1;")
    (root / "migrations" / "notes.txt").write_text("x")
    (root / "migrations" / "00005_Bad-Name.sql").write_text("SELECT 1;")
    (root / "rollback" / "00006_orphan.sql").write_text("SELECT 1;")
    (root / "manifests" / "00001_ok.yml").write_text("description: x\nphase: expand\n")
    (root / "migrations" / "sub").mkdir()
    (root / "migrations" / "README.md").write_text("ignored")
    (root / "migrations" / ".gitkeep").write_text("")
    with pytest.raises(ProjectError) as info:
        load_project(project.settings())
    details = "\n".join(info.value.details)
    for expected in (
        "migrations/002_dup_again.sql: duplicate version 002 (also migrations/00002_dup.sql); renumber one of "
        "them: `sqlmig new --renumber 002_dup_again`",
        "migrations/00003_no_rollback.sql: missing rollback/00003_no_rollback.sql",
        "migrations/00004_no_manifest.sql: missing manifest manifests/00004_no_manifest.yaml",
        "migrations/notes.txt: stray file in migrations/",
        "migrations/00005_Bad-Name.sql: name does not follow <version>_<name>.sql",
        "rollback/00006_orphan.sql: rollback without a forward file migrations/00006_orphan.sql",
        "manifests/00001_ok.yml: manifests use the .yaml extension, not .yml",
        "migrations/sub: unexpected folder",
    ):
        assert expected in details
    assert "README" not in details and "gitkeep" not in details
    assert info.value.exit_code == 2
    assert info.value.message == f"8 problems in the migration files of the project at {root.resolve()}"
    assert info.value.where is None  # not "error: .: 10 problems"


def test_a_dangling_symbolic_link_is_reported_once_under_its_own_path(project, tmp_path):
    project.add("00001_ok", "SELECT 1;")
    project.add("00002_gone", "SELECT 1;")
    target = tmp_path / "elsewhere" / "00002_gone.sql"
    (project.root / "migrations" / "00002_gone.sql").unlink()
    (project.root / "migrations" / "00002_gone.sql").symlink_to(target)
    with pytest.raises(ProjectError) as info:
        load_project(project.settings())
    assert info.value.details == [f"migrations/00002_gone.sql: symbolic link to {target}, which does not exist"]


def test_a_point_of_no_return_needs_no_rollback_file(project):
    project.add("00001_drop", "DROP TABLE t;", down=None, manifest={"point_of_no_return": "drops t"})
    m = load_project(project.settings()).migrations[0]
    assert m.rollback is None and m.point_of_no_return and m.checksums["rollback"] is None


def test_missing_files_are_deferred_so_history_can_call_them_drift(project):
    project.add("00001_a", "SELECT 1;", down=None)
    (project.root / "manifests" / "00002_b.yaml").write_text("description: b\nphase: expand\n")
    loaded, error = load_project_deferred(project.settings())
    assert loaded.incomplete == {"00001": ("rollback/00001_a.sql",), "00002": ("migrations/00002_b.sql",)}
    assert error is not None and len(error.details) == 2
    (project.root / "migrations" / "stray.txt").write_text("x")  # any other problem is not deferred
    with pytest.raises(ProjectError):
        load_project_deferred(project.settings())


def test_no_migrations_folder(tmp_path):
    from sqlmig.config import load_settings

    with pytest.raises(ProjectError, match="no migrations/ folder"):
        load_project(load_settings(tmp_path))


@pytest.mark.parametrize(
    ("versions", "sequential", "expected"),
    [
        ([], True, "00001"),
        (["00001", "00002"], False, "00003"),  # follows the project's sequential numbering
        (["001", "009"], False, "010"),
        (["0099"], False, "0100"),
        ([], False, "20261126101500"),
        (["20261126101500"], False, "20261126101501"),  # never goes backwards, never reuses
        (["20261126090000"], False, "20261126101500"),
    ],
)
def test_next_version(versions, sequential, expected):
    now = datetime(2026, 11, 26, 10, 15, 0, tzinfo=UTC)
    notes = []
    assert next_version(versions, sequential=sequential, now=now, emit=notes.append) == expected
    assert bool(notes) == (versions == ["20261126101500"])  # the clock is not past the newest version: said


def test_a_version_ahead_of_the_clock_gives_the_next_real_timestamp():
    now = datetime(2026, 11, 26, 10, 15, 0, tzinfo=UTC)
    notes = []
    assert next_version(["20261231235959"], sequential=False, now=now, emit=notes.append) == "20270101000000"
    (note,) = notes
    assert note.message.startswith("the newest migration's version 20261231235959 is not before the clock "
                                   "(20261126101500 UTC), so the new one is 20270101000000")  # fmt: skip


def test_sequential_is_refused_in_a_timestamp_project():
    with pytest.raises(UsageError) as info:
        next_version(["20261126101500"], sequential=True)
    assert ("numbers its migrations by UTC timestamp (newest: 20261126101500); 20261126101501 would not be one"
            in info.value.message)  # fmt: skip


def test_renumber_moves_the_files_and_rewrites_their_header(project):
    from sqlmig.scaffold import create_migration, renumber_migration

    settings = project.settings()
    first = create_migration(settings, "add_a", sequential=True)
    create_migration(settings, "add_b")
    body = "-- keeps 00001_add_a in the SQL\nCREATE TABLE a (x int);\n"
    first[0].write_text(first[0].read_text() + body)
    moves = renumber_migration(settings, "00001_add_a")
    assert [new.name for _, new in moves] == ["00003_add_a.sql", "00003_add_a.sql", "00003_add_a.yaml"]
    for _, new in moves:
        text = new.read_text()
        assert text.splitlines()[0].startswith(("-- 00003_add_a:", "# 00003_add_a:")), text
    forward = moves[0][1].read_text()
    assert forward.endswith(body) and "00001_add_a" not in forward.replace(body, "")
