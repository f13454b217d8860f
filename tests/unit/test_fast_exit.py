"""The fast exit of the `sqlmig` process (sqlmig.cli._exit): output, exit code and exit handlers as Python's
own exit would give them, and Python's own exit where something still has to happen at it."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _main_after(setup: str, argv: list[str], tmp_path) -> subprocess.CompletedProcess:
    """`sqlmig ARGV` through the console script's main(), in a Python process that first runs `setup`."""
    code = f"{setup}\nimport sys\nsys.argv = {['sqlmig', *argv]!r}\nfrom sqlmig.cli import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env=os.environ.copy())  # fmt: skip


def test_fast_exit_runs_atexit_handlers_and_keeps_the_code(tmp_path):
    marker = tmp_path / "ran"
    setup = f'import atexit\natexit.register(lambda: open({str(marker)!r}, "w").write("ran"))'
    done = _main_after(setup, ["new", "x", "--project", "nowhere-at-all"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert "nowhere-at-all" in done.stderr
    assert marker.read_text() == "ran"


def test_fast_exit_waits_for_a_running_thread(tmp_path):
    """A non-daemon thread still running (an embedding program's) is waited for, as Python would."""
    marker = tmp_path / "late"
    setup = f"""
import threading, time
def late():
    time.sleep(0.5)
    open({str(marker)!r}, "w").write("done")
threading.Thread(target=late).start()
"""
    done = _main_after(setup, ["--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout
    assert marker.read_text() == "done"


def test_fast_exit_delivers_all_output_through_a_pipe(tmp_path):
    """Far more than a pipe holds (64 KiB), read only as the process writes it: all of it arrives, and the
    exit code is the command's."""
    files = tmp_path / "sql"
    files.mkdir()
    for i in range(1, 201):
        (files / f"{i:05d}_m{i}.sql").write_text(f"CREATE INDEX i{i} ON big{i} (id);\n")
    done = subprocess.run([sys.executable, "-m", "sqlmig", "lint", str(files), "--format", "json"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert len(done.stdout) > 100_000
    assert done.returncode == 1, done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert {f["path"].rsplit("/", 1)[-1] for f in findings if f["rule"] == "SM050"} == {
        f"{i:05d}_m{i}.sql" for i in range(1, 201)
    }


def test_fast_exit_with_stdout_closed(tmp_path):
    clean = tmp_path / "ok.sql"
    clean.write_text("SELECT 1;\n")
    done = subprocess.run([sys.executable, "-m", "sqlmig", "lint", str(clean)], stdout=None, stderr=subprocess.PIPE,
                          text=True, timeout=60, preexec_fn=lambda: os.close(1))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_a_profiler_still_gets_its_results(tmp_path):
    clean = tmp_path / "ok.sql"
    clean.write_text("SELECT 1;\n")
    done = subprocess.run([sys.executable, "-m", "cProfile", "-m", "sqlmig", "lint", str(clean)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "function calls" in done.stdout  # cProfile's report, written at exit


def test_ctrl_c_while_starting_up_is_a_message_and_130(tmp_path):
    """Ctrl-C before Typer is even imported (here: raised by the import itself): no traceback."""
    setup = """
import sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "sqlmig.cli.app":
            raise KeyboardInterrupt

sys.meta_path.insert(0, Interrupt())
"""
    done = _main_after(setup, ["status"], tmp_path)
    assert done.returncode == 130
    assert "interrupted while sqlmig was starting or ending: no migration was in progress" in done.stderr
    assert "Traceback" not in done.stderr
