"""Benchmark of the core migrator (issue 3): apply, no-op apply, status, --help, --version.

    .venv/bin/python bench/core_bench.py [--migrations 500] [--rounds 3] [--database-url URL]

Without --database-url it starts a throw-away embedded PostgreSQL (not timed) and every
timing runs against that running server. Each apply goes into a fresh database, after a
CHECKPOINT; the psql floor, a first apply on a checkout (caches empty) and an apply after
`sqlmig plan` (the files already split and cached) take turns going first, round by round,
so all see the same machine. The floor is the embedded package's own psql running the same forward files in
one session, each wrapped in BEGIN/COMMIT. Every figure is a whole process, interpreter
start included: wall time (best and median of --rounds) and the client's own CPU time
(user + system, median), which a busy shared machine disturbs far less than wall time.
Printed as a Markdown table for bench/README.md. Figures, never assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _common import SQLMIG, Server, admin_url, parser, psql_path, stats, timed


def write_project(root: Path, count: int) -> None:
    """`count` small migrations: a table and an index each, with rollback and manifest."""
    for sub in ("migrations", "rollback", "manifests"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(1, count + 1):
        stem = f"{i:05d}_table_{i}"
        (root / "migrations" / f"{stem}.sql").write_text(
            f"-- table {i}\nCREATE TABLE t_{i} (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz);\n"
            f"CREATE INDEX t_{i}_name_idx ON t_{i} (name);\n"
        )
        (root / "rollback" / f"{stem}.sql").write_text(f"DROP TABLE t_{i};\n")
        (root / "manifests" / f"{stem}.yaml").write_text(f"description: Table {i} and its index.\nphase: expand\n")


def clear_cache(tmp: Path) -> None:
    """Empty sqlmig's caches: the first command on a checkout parses every manifest and splits every file."""
    for cached in (tmp / "cache").glob("sqlmig/*"):
        cached.unlink()


def apply_rounds(server: Server, proj: Path, script: Path, env: dict, rounds: int, tmp: Path) -> dict:
    """psql floor and `sqlmig apply` alternating, each into a fresh database; then no-op apply and status.

    The databases are dropped after all rounds, not between them: dropping one (2,500 files
    unlinked) just before a timed run slows every commit of that run ~3x here, while the file
    system catches up; that would inflate the floor and flatter the ratio.
    """
    got: dict[str, list] = {"floor": [], "apply": [], "planned": [], "noop": [], "status": [], "cold": []}
    made: list[str] = []
    for n in range(rounds):
        runs = ["floor", "apply", "planned"]
        for what in runs[n % 3 :] + runs[: n % 3]:  # each goes first, second and third in turn
            url = server.fresh()
            made.append(url)
            if what == "floor":
                got["floor"].append(timed([str(psql_path()), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f",
                                           str(script)]))  # fmt: skip
                continue
            clear_cache(tmp)  # a first run on a fresh checkout: every manifest parsed, every file split
            if what == "planned":  # a deploy that runs `sqlmig plan` before `sqlmig apply`: the files are split
                timed([*SQLMIG, "plan", "-d", url, "-p", str(proj)], env)
            got[what].append(timed([*SQLMIG, "apply", "-d", url, "-p", str(proj)], env))
            applied = url
        url = applied  # the no-op apply and status below run on a database sqlmig applied
        clear_cache(tmp)
        got["cold"].append(timed([*SQLMIG, "status", "-d", url, "-p", str(proj)], env))
        for _ in range(2):
            got["noop"].append(timed([*SQLMIG, "apply", "-d", url, "-p", str(proj)], env))
            got["status"].append(timed([*SQLMIG, "status", "-d", url, "-p", str(proj)], env))
    for url in made:
        server.drop(url)
    return got


def ratios(got: dict, what: str = "apply") -> str:
    each = sorted(a[0] / f[0] for a, f in zip(got[what], got["floor"], strict=True))
    return f"{', '.join(f'{r:.2f}×' for r in each)} (median {statistics.median(each):.2f}×)"


def measure(args: argparse.Namespace, server: Server, tmp: Path, embedded: bool) -> None:
    """Every figure, printed as the Markdown table for bench/README.md."""
    proj = tmp / "proj"
    write_project(proj, args.migrations)
    # as a user's install runs: bytecode cached (a sandbox may set PYTHONDONTWRITEBYTECODE)
    drop = ("DATABASE_URL", "SQLMIG_DATABASE_URL", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["XDG_CACHE_HOME"] = str(tmp / "cache")

    # The floor: one psql session, BEGIN/COMMIT around each forward file.
    script = tmp / "floor.sql"
    with script.open("w") as f:
        for path in sorted((proj / "migrations").iterdir()):
            f.write("BEGIN;\n" + path.read_text() + "COMMIT;\n")
    timed([*SQLMIG, "--version"], env)  # writes the bytecode
    durable = apply_rounds(server, proj, script, env, args.rounds, tmp)
    fast = None
    if embedded:
        # The same without waiting for each COMMIT's WAL flush: the disk, the noisiest part of a
        # shared machine, leaves the comparison, and what remains is sqlmig's own overhead.
        server.set("synchronous_commit", "off")
        fast = apply_rounds(server, proj, script, env, args.rounds, tmp)
    help_t = [timed([*SQLMIG, "--help"], env) for _ in range(args.rounds * 2)]
    version_t = [timed([*SQLMIG, "--version"], env) for _ in range(args.rounds * 2)]
    bare = [timed([sys.executable, "-c", "pass"]) for _ in range(args.rounds * 2)]

    n = args.migrations
    rows = [
        (f"psql floor: {n} files, BEGIN/COMMIT each", durable["floor"], ""),
        (f"`sqlmig apply`: {n} migrations, empty database, first run on a checkout", durable["apply"], "≤ 1.3× floor"),
        ("the same after `sqlmig plan` (files split and cached)", durable["planned"], "≤ 1.3× floor"),
    ]
    if fast:
        rows += [
            ("psql floor, synchronous_commit off", fast["floor"], ""),
            ("`sqlmig apply`, synchronous_commit off", fast["apply"], ""),
            ("`sqlmig apply` after `sqlmig plan`, synchronous_commit off", fast["planned"], ""),
        ]
    rows += [
        (f"`sqlmig apply`, nothing to do ({n} applied)", durable["noop"], "< 0.5 s"),
        (f"`sqlmig status` ({n} applied)", durable["status"], "< 0.5 s"),
        (f"`sqlmig status` ({n} applied), empty manifest cache", durable["cold"], ""),
        ("`sqlmig --help`", help_t, "< 0.15 s"),
        ("`sqlmig --version`", version_t, "< 0.15 s"),
        ("`python -c pass` (interpreter start)", bare, ""),
    ]
    print("| what | wall, best (s) | wall, median (s) | client CPU, median (s) | target |\n|---|---|---|---|---|")
    for label, values, target in rows:
        best, med, cpu = stats(values)
        print(f"| {label} | {best:.3f} | {med:.3f} | {cpu:.3f} | {target} |")
    print(f"\napply / floor, round by round: {ratios(durable)}")
    print(f"apply after plan / floor, round by round: {ratios(durable, 'planned')}")
    if fast:
        print(f"apply / floor, synchronous_commit off: {ratios(fast)}")
        print(f"apply after plan / floor, synchronous_commit off: {ratios(fast, 'planned')}")


def main() -> None:
    args = parser(__doc__, migrations=500, rounds=3).parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sqlmig-bench-"))
    with admin_url(args.database_url, tmp) as admin:
        measure(args, Server(admin), tmp, embedded=not args.database_url)


if __name__ == "__main__":
    main()
