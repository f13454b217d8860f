"""Benchmark of issue 7: `sqlmig verify`, the schema fingerprint, and what drift recording adds to apply.

    .venv/bin/python bench/verify_bench.py [--migrations 200] [--tables 1000] [--rounds 3] [--database-url URL]

Without --database-url it starts a throw-away embedded PostgreSQL (not timed). Measures:
- `sqlmig verify` of the example project and of N generated migrations (a table and an
  index each, core_bench's project), whole process, and the median time of one round trip
  (fingerprint, apply, fingerprint, rollback, fingerprint, apply, fingerprint);
- fingerprint.take on a schema of --tables tables (primary key, index, default, comment each);
- apply of core_bench's 500 migrations in-process with the drift check and the snapshot
  recording, and without them (both patched out), to show their overhead.
Figures, never assertions: the machine is shared.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import REPO, SQLMIG, Server, admin_url, best_median, parser, timed
from core_bench import write_project


def many_tables(url: str, count: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        for i in range(count):
            conn.execute(f"CREATE TABLE f_{i} (id bigint PRIMARY KEY, name text NOT NULL DEFAULT '', n int, "
                         f"created_at timestamptz DEFAULT now()); CREATE INDEX f_{i}_name ON f_{i} (name); "
                         f"COMMENT ON TABLE f_{i} IS 'table {i}'")  # fmt: skip


def fingerprint_times(url: str, rounds: int) -> tuple[list[float], int]:
    import psycopg

    from sqlmig import fingerprint

    times, size = [], 0
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(rounds + 1):
            t0 = time.perf_counter()
            fp = fingerprint.take(conn)
            times.append(time.perf_counter() - t0)
            size = len(fp.compress())
    return times[1:], size  # the first read warms the catalog caches


def apply_in_process(server: Server, proj: Path, record: bool) -> float:
    """One apply of the project into a fresh database; `record=False` patches out drift check and snapshot."""
    from sqlmig import apply, load_settings
    from sqlmig.drift import SchemaWatch

    saved = SchemaWatch.check, SchemaWatch.record
    if not record:
        SchemaWatch.check = SchemaWatch.record = lambda *a, **k: None  # type: ignore[method-assign]
    url = server.fresh()
    try:
        t0 = time.perf_counter()
        apply(load_settings(proj, database_url=url))
        return time.perf_counter() - t0
    finally:
        SchemaWatch.check, SchemaWatch.record = saved
        server.drop(url)


def round_trips(proj: Path, admin: str) -> list[float]:
    from sqlmig import load_project, load_settings
    from sqlmig.verify import verify_project

    settings = load_settings(proj)
    result = verify_project(load_project(settings), settings, scratch_url=admin)
    assert result.exit_code == 0, result.summary()
    return [c.duration_ms / 1000 for c in result.checks if c.status == "ok"]


def measure(args: argparse.Namespace, admin: str, tmp: Path) -> None:
    """Every figure, printed as the Markdown table for bench/README.md."""
    server = Server(admin)
    example = tmp / "example"
    for sub in ("migrations", "rollback", "manifests"):
        (example / sub).mkdir(parents=True)
        for f in (REPO / sub).iterdir():
            (example / sub / f.name).write_bytes(f.read_bytes())
    generated = tmp / "generated"
    write_project(generated, args.migrations)
    big = tmp / "apply"
    write_project(big, args.apply_migrations)

    verify_cmd = [*SQLMIG, "verify", "--scratch-url", admin, "-p"]
    ex_t = [timed([*verify_cmd, str(example)])[0] for _ in range(args.rounds)]
    gen_t = [timed([*verify_cmd, str(generated)])[0] for _ in range(max(1, args.rounds - 1))]
    ex_trip = round_trips(example, admin)
    gen_trip = round_trips(generated, admin)

    url = server.fresh()
    many_tables(url, args.tables)
    fp_t, fp_size = fingerprint_times(url, args.rounds * 2)
    server.drop(url)

    with_rec = [apply_in_process(server, big, True) for _ in range(args.rounds)]
    without = [apply_in_process(server, big, False) for _ in range(args.rounds)]

    rows = [
        ("`sqlmig verify`, example project (8 migrations)", ex_t),
        (f"`sqlmig verify`, {args.migrations} generated migrations", gen_t),
        ("one round trip, example project (median of 7)", ex_trip),
        (f"one round trip, {args.migrations} generated migrations", gen_trip),
        (f"fingerprint.take, {args.tables} tables (+ {args.tables} indexes)", fp_t),
        (f"apply {args.apply_migrations} migrations in-process, with drift check + snapshot", with_rec),
        (f"apply {args.apply_migrations} migrations in-process, both patched out", without),
    ]
    print("| what | best (s) | median (s) |\n|---|---|---|")
    for label, values in rows:
        best, med = best_median(values)
        print(f"| {label} | {best:.3f} | {med:.3f} |")
    print(f"\nsnapshot of {args.tables} tables: {fp_size / 1024:.0f} kB compressed")
    print(f"drift check + snapshot overhead on apply: {min(with_rec) - min(without):+.3f} s (best), "
          f"{statistics.median(with_rec) - statistics.median(without):+.3f} s (median)")  # fmt: skip


def main() -> None:
    args = parser(__doc__, migrations=200, tables=1000, apply_migrations=500, rounds=3).parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sqlmig-bench-verify-"))
    with admin_url(args.database_url, tmp) as admin:
        measure(args, admin, tmp)


if __name__ == "__main__":
    main()
