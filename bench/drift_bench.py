"""Benchmark of what schema drift costs apply: the snapshot recorded after a run, the check before one.

    .venv/bin/python bench/drift_bench.py [--tables 500] [--rounds 7] [--database-url URL]

Without --database-url it starts a throw-away embedded PostgreSQL (not timed). On a database
of --tables tables shaped like core_bench's migrations (a primary key and an index each, so
twice as many indexes), each created in its own transaction as apply does:
- `drift.record` on the connection that created them, as apply records after its run (the
  catalog caches that connection held for those objects were invalidated by its own DDL);
- `drift.detect` on a new connection against that baseline, as apply checks before a run;
- `fingerprint.take` on a new connection (cold catalog caches) and again on it (warm), and
  the hash and compressed snapshot of the result (canonical JSON, sha256, zlib).
Each round gets a fresh database. Figures, never assertions: the machine is shared.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Server, admin_url, best_median, parser


def build(conn: Any, tables: int) -> None:
    """core_bench's migrations, one transaction each, on `conn` (as apply's runner does)."""
    for i in range(tables):
        with conn.transaction():
            conn.execute(f"CREATE TABLE t_{i} (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz)")
            conn.execute(f"CREATE INDEX t_{i}_name_idx ON t_{i} (name)")


def one_round(server: Server, tables: int, tmp: Path) -> dict[str, float]:
    import psycopg

    from sqlmig import drift, fingerprint, load_settings
    from sqlmig.history import History

    url = server.fresh()
    try:
        settings = load_settings(tmp, database_url=url)
        out: dict[str, float] = {}
        with psycopg.connect(url, autocommit=True) as conn:
            history = History(conn, settings.history_schema, settings.history_table)
            history.ensure()
            build(conn, tables)
            t0 = time.perf_counter()
            drift.record(conn, history, settings, "apply", None)
            out["record"] = time.perf_counter() - t0
        with psycopg.connect(url, autocommit=True) as conn:
            history = History(conn, settings.history_schema, settings.history_table)
            t0 = time.perf_counter()
            report = drift.detect(conn, history, settings)
            out["check"] = time.perf_counter() - t0
            assert report is not None and not report.drifted
        with psycopg.connect(url, autocommit=True) as conn:
            t0 = time.perf_counter()
            fingerprint.take(conn)
            out["take_cold"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            fp = fingerprint.take(conn)
            out["take_warm"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            fp.hash, fp.compress()
            out["encode"] = time.perf_counter() - t0
        out["size"] = len(fp.compress())
        return out
    finally:
        server.drop(url)


def main() -> None:
    args = parser(__doc__, tables=500, rounds=7).parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sqlmig-bench-drift-"))
    with admin_url(args.database_url, tmp) as admin:
        server = Server(admin)
        rounds = [one_round(server, args.tables, tmp) for _ in range(args.rounds)]
    n = args.tables
    rows = [
        (f"snapshot recorded after a run ({n} tables, {2 * n} indexes), on the connection that ran it", "record"),
        ("drift check before a run, new connection, against that baseline", "check"),
        ("fingerprint.take, new connection (cold catalog caches)", "take_cold"),
        ("fingerprint.take again on it (warm)", "take_warm"),
        ("hash + compressed snapshot of it (canonical JSON, sha256, zlib)", "encode"),
    ]
    print("| what | best (ms) | median (ms) |\n|---|---|---|")
    for label, key in rows:
        best, med = best_median([r[key] for r in rounds])
        print(f"| {label} | {best * 1000:.1f} | {med * 1000:.1f} |")
    print(f"\nsnapshot: {statistics.median(r['size'] for r in rounds) / 1024:.0f} kB compressed")


if __name__ == "__main__":
    main()
