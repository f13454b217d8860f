"""Python's cycle collector, paused while `apply`, `plan` and `rollback` start up.

Starting up allocates hundreds of thousands of objects that live until the process ends (the
modules of Typer, psycopg, sqlglot and jsonschema; the project's manifests and statements) and
almost no garbage cycles. The collector walks them again and again all the same: on a first
`apply` of 500 migrations it took 35-40 ms in each process (the read-ahead child's and the
parent's), one full collection alone 15-18 ms. So main() turns it off for these commands, as
early as it can, and the read-ahead child inherits that and ends without ever collecting
(what Python's documentation advises for a process that forks).

When the first migration starts, whatever is alive is set aside for good (gc.freeze: it lives
until the process ends) and collection resumes, with only what the run allocates to walk: a
run may last hours (a batched backfill). A command that runs no migration (plan, a dry run,
nothing pending) keeps the collector off to its end; its garbage is bounded by the project.
"""

from __future__ import annotations

import gc

COMMANDS = frozenset({"apply", "plan", "rollback"})
_paused = False


def pause(argv: list[str]) -> None:
    """Turn the collector off for the commands above (not when something else turned it off)."""
    global _paused
    if argv and argv[0] in COMMANDS and gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """The run starts: set aside what start-up left alive, and collect again (once; a no-op after)."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
