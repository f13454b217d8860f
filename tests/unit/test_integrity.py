"""migrations.sum: its format, and every way files and sum can disagree."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from sqlmig import integrity
from sqlmig.errors import DriftError

FILES = {
    "migrations/00002_b.sql": b"SELECT 2;\n",
    "migrations/00001_a.sql": b"SELECT 1;\n",
    "rollback/00001_a.sql": b"SELECT -1;\n",
    "manifests/00001_a.yaml": b"description: a\nphase: expand\n",
    "manifests/00002_b.yaml": b"description: b\nphase: expand\n",
    "migrations/00010_c.sql": b"SELECT 10;\n",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sums(files: dict[str, bytes]) -> dict[str, str]:
    return {p: sha(b) for p, b in files.items()}


def test_format_total_then_one_line_per_file_in_version_order() -> None:
    text = integrity.render_sum(sums(FILES))
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    body = "".join(f"{sha(FILES[p])}  {p}\n" for p in [
        "migrations/00001_a.sql", "rollback/00001_a.sql", "manifests/00001_a.yaml",
        "migrations/00002_b.sql", "manifests/00002_b.yaml", "migrations/00010_c.sql",
    ])  # fmt: skip
    assert lines[0] == f"total {sha(body.encode())}"
    assert "\n".join(lines[1:]) + "\n" == body
    assert integrity.compare(text, FILES) == []


def test_sha256sum_verifies_the_per_file_lines(tmp_path: Path) -> None:
    for path, data in FILES.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    assert integrity.write_sum(tmp_path) == len(FILES)
    res = subprocess.run(["sha256sum", "-c", "--quiet", integrity.SUM_FILE], cwd=tmp_path, capture_output=True,
                         text=True)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert integrity.verify(tmp_path) == []


def test_every_kind_of_difference_is_named() -> None:
    text = integrity.render_sum(sums(FILES))
    now = {**FILES, "migrations/00001_a.sql": b"SELECT 1.5;\n", "rollback/00002_b.sql": b"SELECT -2;\n"}
    del now["migrations/00010_c.sql"]
    found = [m.render() for m in integrity.compare(text, now)]
    assert found == [
        "migrations/00001_a.sql: differs from its checksum in migrations.sum (line 6 of migrations.sum)",
        "rollback/00002_b.sql: is not listed in migrations.sum",
        "migrations/00010_c.sql: is listed in migrations.sum but the file is gone (line 11 of migrations.sum)",
    ]


def test_a_hand_edited_line_breaks_the_total() -> None:
    text = integrity.render_sum(sums(FILES))
    edited = text.replace(sha(FILES["migrations/00002_b.sql"]), sha(b"SELECT 22;\n"))
    found = integrity.compare(edited, {**FILES, "migrations/00002_b.sql": b"SELECT 22;\n"})
    assert [m.render() for m in found] == [
        "migrations.sum:5: the total line does not match the lines below it (edited by hand, or merged without "
        "`sqlmig hash`)"
    ]


def test_merge_conflict_markers_are_one_clear_problem() -> None:
    text = integrity.render_sum(sums(FILES))
    lines = text.splitlines()
    conflicted = "\n".join([*lines[:4], "<<<<<<< HEAD", lines[4], "=======", "total " + "0" * 64,
                            ">>>>>>> other", *lines[5:]]) + "\n"  # fmt: skip
    found = integrity.compare(conflicted, FILES)
    assert [m.render() for m in found] == [
        "migrations.sum:5: holds merge conflict markers: two branches added migrations"
    ]


def test_malformed_line() -> None:
    text = integrity.render_sum(sums(FILES)) + "not a checksum line\n"
    assert [m.render() for m in integrity.compare(text, FILES)] == [
        "migrations.sum:12: this line is not `<sha256>  <path>`"
    ]


def test_project_files_skip_what_the_loader_skips(tmp_path: Path) -> None:
    for sub in ("migrations", "rollback", "manifests"):
        (tmp_path / sub).mkdir()
    (tmp_path / "migrations" / "00001_a.sql").write_bytes(b"SELECT 1;")
    (tmp_path / "migrations" / ".gitkeep").write_bytes(b"")
    (tmp_path / "rollback" / "README.md").write_bytes(b"notes")
    (tmp_path / "manifests" / "stray.txt").write_bytes(b"?")
    assert sorted(integrity.project_files(tmp_path)) == ["manifests/stray.txt", "migrations/00001_a.sql"]


def test_raise_on_mismatch_is_exit_3_naming_the_files(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "00001_a.sql").write_bytes(b"SELECT 1;")
    integrity.raise_on_mismatch(tmp_path)  # no migrations.sum: nothing to verify
    integrity.write_sum(tmp_path)
    integrity.raise_on_mismatch(tmp_path)
    (tmp_path / "migrations" / "00001_a.sql").write_bytes(b"SELECT 2;")
    with pytest.raises(DriftError) as exc:
        integrity.raise_on_mismatch(tmp_path)
    assert exc.value.exit_code == 3
    assert exc.value.details == [
        "migrations/00001_a.sql: differs from its checksum in migrations.sum (line 6 of migrations.sum)"
    ]
