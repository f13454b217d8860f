"""Standard streams that cannot be written: closed when sqlmig starts (`2>&-`), or failing (a full disk,
/dev/full). The command's work is never cut short by its own output, and never a traceback; results that
could not reach stdout make a successful command exit 1."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")


def _two(project):
    for i in (1, 2):
        project.add(f"{i:05d}_t{i}", f"CREATE TABLE t{i} (id int);\n", f"DROP TABLE t{i};\n")
    return project


def _sqlmig(args: list[str], *, closed: tuple[int, ...] = (), stdout=subprocess.PIPE, stderr=subprocess.PIPE):
    """`python -m sqlmig ARGS` with the descriptors in `closed` closed in the child before it starts."""

    def close() -> None:
        for fd in closed:
            os.close(fd)

    return subprocess.run([sys.executable, "-m", "sqlmig", *args], stdin=subprocess.DEVNULL, stdout=stdout,
                          stderr=stderr, preexec_fn=close, timeout=120)  # fmt: skip


def _applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM sqlmig_history WHERE status = 'applied' ORDER BY 1")]


def test_apply_with_every_standard_stream_closed_applies_and_exits_0(project, database_url):
    _two(project)
    done = _sqlmig(["apply", "-d", database_url, "-p", str(project.root), "--yes"], closed=(0, 1, 2))
    assert done.returncode == 0
    assert _applied(database_url) == ["00001", "00002"]


def test_status_with_stderr_closed_prints_its_table(project, database_url):
    _two(project)
    done = _sqlmig(["status", "-d", database_url, "-p", str(project.root)], closed=(2,))
    assert done.returncode == 0
    assert b"00002_t2" in done.stdout and b"2 pending" in done.stdout


def test_apply_with_a_full_log_still_applies_everything(project, database_url):
    """stderr (progress) on a full disk: every migration runs, and the exit code is the command's own."""
    _two(project)
    with open("/dev/full", "w") as full:
        done = _sqlmig(["apply", "-d", database_url, "-p", str(project.root), "--yes"], stderr=full)
    assert done.returncode == 0
    assert b"applied 2 migrations" in done.stdout
    assert _applied(database_url) == ["00001", "00002"]


@pytest.mark.parametrize("args", [["plan", "--format", "json"], ["status", "--format", "json"],
                                  ["apply", "--yes", "--format", "json"]])  # fmt: skip
def test_results_that_cannot_reach_stdout_are_a_failure_without_a_traceback(project, database_url, args):
    _two(project)
    with open("/dev/full", "w") as full:
        done = _sqlmig([*args, "-d", database_url, "-p", str(project.root)], stdout=full)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert "the output on stdout is incomplete: it could not be written (No space left on device)" in stderr
    if args[0] == "apply":  # the migrations ran all the same: only their report was lost
        assert _applied(database_url) == ["00001", "00002"]


@pytest.mark.parametrize("args", [["schema"], ["--version"], ["--help"], ["apply", "--help"], ["lint", "--list-rules"]])
def test_text_of_commands_without_a_database_that_cannot_be_written_is_a_failure(args):
    with open("/dev/full", "w") as full:
        done = _sqlmig(args, stdout=full)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "Traceback" not in stderr and "could not be written (No space left on device)" in stderr


def test_a_usage_error_keeps_its_code_when_its_message_cannot_be_written():
    with open("/dev/full", "w") as full:
        done = _sqlmig(["apply", "--bogus"], stderr=full)
    assert done.returncode == 2


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["apply", "--help"], ["-V"]])
def test_the_version_or_help_into_a_pipe_whose_reader_has_gone_exits_0(args):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written
    with os.fdopen(write, "w") as gone:
        done = _sqlmig(args, stdout=gone)
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
