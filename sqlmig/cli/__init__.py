"""The `sqlmig` command. `--version` answers before Typer (and everything else) is imported."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        from sqlmig import __version__

        print(f"sqlmig {__version__}")
        return
    from sqlmig.cli.app import app

    app(prog_name="sqlmig")
