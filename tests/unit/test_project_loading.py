"""Project loading: naming, pairing, ordering, every problem reported at once, naming the file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sqlmig.errors import ProjectError
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
        "migrations/002_dup_again.sql: duplicate version 002 (also migrations/00002_dup.sql)",
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
    assert next_version(versions, sequential=sequential, now=now) == expected
