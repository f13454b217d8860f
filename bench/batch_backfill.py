"""Benchmark of batched data migrations (issue 6): a backfill under a concurrent workload.

    .venv/bin/python bench/batch_backfill.py [--rows 1000000] [--rate 200] [--database-url URL]

Without --database-url it starts a throw-away embedded PostgreSQL. Two identical tables
of --rows rows are created (setup not timed). The workload is --clients Python threads,
each on its own connection, running short autocommit transactions (`UPDATE … SET
balance = balance + 1 WHERE id = <random>`) on an open-loop schedule of --rate
transactions per second in all: a transaction's latency counts from when it was due, so
time spent blocked behind a lock is never hidden. A monitor samples pg_stat_activity
every 20 ms for the longest current lock wait of the workload's sessions.

Scenarios, each measuring the workload only while the backfill runs:
  idle       the workload alone (its baseline)
  plain      one `UPDATE t SET flag = flag + 1` over the whole table, in one transaction
  sqlmig     `sqlmig apply` of a batched migration doing the same update
Then peak memory (max RSS) of the `sqlmig apply` process at 100k rows and at --rows rows.
Figures, never assertions: the machine is shared. Prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from _common import REPO, Server, admin_url

APP = "bench-load"
RUN_SQLMIG = """
import atexit, os, resource, runpy, sys
sys.argv = ["sqlmig", *sys.argv[2:]]

@atexit.register  # sqlmig ends its process itself, running atexit handlers but no `finally`
def peak_rss():
    with open(os.environ["SQLMIG_BENCH_RSS"], "w") as f:
        f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))

runpy.run_module("sqlmig", run_name="__main__")
"""


def make_table(url: str, table: str, rows: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, balance bigint NOT NULL, flag integer NOT NULL, "
                     "note text NOT NULL)")  # fmt: skip
        conn.execute(f"INSERT INTO {table} SELECT g, 0, 0, repeat('x', 60) FROM generate_series(1, {rows}) g")
        conn.execute(f"VACUUM ANALYZE {table}")


class Workload:
    """Open-loop short transactions on one table from several threads, plus a lock-wait monitor."""

    def __init__(self, url: str, table: str, rows: int, rate: float, clients: int) -> None:
        self.url, self.table, self.rows, self.rate, self.clients = url, table, rows, rate, clients
        self.records: list[tuple[float, float]] = []  # (due time, latency s)
        self.lock_waits: list[tuple[float, float]] = []  # (sample time, longest current wait s)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def _client(self, seed: int) -> None:
        import psycopg

        rng = random.Random(seed)
        period = self.clients / self.rate
        out = []
        with psycopg.connect(self.url, autocommit=True, application_name=APP) as conn:
            due = time.time() + rng.uniform(0, period)
            while not self.stop.is_set():
                pause = due - time.time()
                if pause > 0:
                    time.sleep(pause)
                conn.execute(f"UPDATE {self.table} SET balance = balance + 1 WHERE id = %s",
                             (rng.randint(1, self.rows),))  # fmt: skip
                out.append((due, time.time() - due))
                due += period
        self.records.extend(out)

    def _monitor(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute(
                    "SELECT coalesce(extract(epoch FROM max(clock_timestamp() - query_start)), 0) "
                    "FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
                    (APP,),
                ).fetchone()
                self.lock_waits.append((time.time(), float(row[0])))
                time.sleep(0.02)

    def __enter__(self) -> Workload:
        self.threads = [threading.Thread(target=self._client, args=(i,)) for i in range(self.clients)]
        self.threads.append(threading.Thread(target=self._monitor))
        for t in self.threads:
            t.start()
        time.sleep(1.0)  # warm up: connections open, schedule running
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def window(self, t0: float, t1: float) -> dict:
        lat = sorted(lat for due, lat in self.records if t0 <= due <= t1)
        waits = [w for at, w in self.lock_waits if t0 <= at <= t1 + 0.5]
        if not lat:
            return {"txns": 0}
        return {
            "txns": len(lat),
            "p50_ms": 1000 * lat[len(lat) // 2],
            "p99_ms": 1000 * lat[min(int(len(lat) * 0.99), len(lat) - 1)],
            "max_ms": 1000 * lat[-1],
            "lock_wait_ms": 1000 * max(waits, default=0.0),
        }


def run_sqlmig(url: str, table: str, proj: Path, batch: dict) -> tuple[float, dict, int]:
    """Apply a batched migration in a subprocess: (wall seconds, its batch_summary event, max RSS KiB)."""
    import yaml

    for sub in ("migrations", "rollback", "manifests"):
        (proj / sub).mkdir(parents=True, exist_ok=True)
    stem = f"00001_flag_{table}"
    (proj / "migrations" / f"{stem}.sql").write_text(
        f"UPDATE {table} SET flag = flag + 1 WHERE id BETWEEN :batch_start AND :batch_end;\n"
    )
    (proj / "rollback" / f"{stem}.sql").write_text(f"UPDATE {table} SET flag = flag - 1;\n")
    (proj / "manifests" / f"{stem}.yaml").write_text(
        yaml.safe_dump({"description": "bench backfill", "phase": "migrate", "batch": {"table": table, **batch}})
    )
    rss_file = proj / "rss.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLMIG_DATABASE_URL")}
    env["SQLMIG_BENCH_RSS"] = str(rss_file)
    env["SQLMIG_HISTORY_TABLE"] = f"h_{proj.name}"  # one history per run: each is its own project
    code = RUN_SQLMIG
    t0 = time.time()
    res = subprocess.run([sys.executable, "-c", code, "-", "apply", "-d", url, "-p", str(proj), "-f", "json"],
                         capture_output=True, text=True, env=env, cwd=REPO)  # fmt: skip
    wall = time.time() - t0
    if res.returncode != 0:
        raise SystemExit(f"sqlmig apply failed ({res.returncode}):\n{res.stderr}\n{res.stdout[-2000:]}")
    summary = next(json.loads(line) for line in res.stdout.splitlines() if '"batch_summary"' in line)
    return wall, summary, int(rss_file.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rate", type=float, default=200.0, help="workload transactions per second, all clients")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--idle-seconds", type=float, default=8.0)
    ap.add_argument(
        "--config",
        action="append",
        metavar="TARGET_MS:MAX_SIZE:SLEEP_MS",
        help="a sqlmig batch configuration to measure (repeatable; default 50:20000:0 and 20:5000:0)",
    )
    ap.add_argument("--database-url", help="admin URL of a running server (may create databases)")
    args = ap.parse_args()

    import psycopg

    tmp = Path(tempfile.mkdtemp(prefix="sqlmig-batch-bench-"))
    server_scope = ExitStack()
    server = Server(server_scope.enter_context(admin_url(args.database_url, tmp)))
    url = server.fresh()
    try:
        n = args.rows
        configs = [tuple(int(x) for x in c.split(":")) for c in (args.config or ["50:20000:0", "20:5000:0"])]
        print(f"setting up tables of {n:,} rows…", file=sys.stderr)
        make_table(url, "plain_t", n)
        results: dict[str, dict] = {}

        def scenario(label: str, table: str) -> Workload:
            with psycopg.connect(url, autocommit=True) as c:
                c.execute("CHECKPOINT")  # setup's dirty pages are not flushed inside a measured window
            print(f"{label}…", file=sys.stderr)
            return Workload(url, table, n, args.rate, args.clients)

        with scenario("idle baseline", "plain_t") as w:
            t0 = time.time()
            time.sleep(args.idle_seconds)
            t1 = time.time()
        results["idle (workload alone)"] = w.window(t0, t1)

        with scenario("plain UPDATE", "plain_t") as w, psycopg.connect(url, autocommit=True) as c:
            t0 = time.time()
            c.execute("UPDATE plain_t SET flag = flag + 1")
            t1 = time.time()
            time.sleep(0.5)  # let transactions queued behind it finish and be counted
        plain = {**w.window(t0, t1), "seconds": t1 - t0, "rows_s": n / (t1 - t0)}
        results["one plain UPDATE"] = plain

        notes, rss_big = [], 0
        for target_ms, max_size, sleep_ms in configs:
            make_table(url, "batch_t", n)
            batch = {"size": 1000, "min_size": 200, "max_size": max_size, "target_ms": target_ms, "sleep_ms": sleep_ms}
            label = f"sqlmig target_ms {target_ms}, max_size {max_size}, sleep_ms {sleep_ms}"
            with scenario(label, "batch_t") as w:
                t0 = time.time()
                wall, summary, rss = run_sqlmig(url, "batch_t", tmp / f"proj_{target_ms}_{max_size}_{sleep_ms}", batch)
                t1 = time.time()
                time.sleep(0.5)
            rss_big = max(rss_big, rss)
            loop_s = summary["duration_ms"] / 1000
            results[label] = {**w.window(t0, t1), "seconds": loop_s, "rows_s": n / loop_s}
            notes.append(
                f"{label}: {summary['batches']} batches, avg {summary['avg_batch_ms']:.0f} ms, "
                f"p95 {summary['p95_batch_ms']:.0f} ms, {summary['retries']} retries, "
                f"{summary['throttles']} throttles; process wall time {wall:.1f}s; "
                f"throughput {n / loop_s / plain['rows_s']:.2f}x plain, "
                f"p99 {results[label]['p99_ms'] / results['idle (workload alone)']['p99_ms']:.1f}x idle"
            )
            with psycopg.connect(url, autocommit=True) as c:
                wrong = c.execute("SELECT count(*) FROM batch_t WHERE flag <> 1").fetchone()[0]
            assert wrong == 0, f"{wrong} rows not updated exactly once"

        print("memory at 100k rows…", file=sys.stderr)
        make_table(url, "small_t", 100_000)
        _, _, rss_small = run_sqlmig(url, "small_t", tmp / "proj_small", {"size": 1000})

        print(f"\n{n:,} rows; workload {args.rate:g} tx/s from {args.clients} clients\n")
        print("| scenario | rows/s | duration (s) | workload p50 (ms) | p99 (ms) | max (ms) | longest lock wait (ms) |")
        print("|---|---|---|---|---|---|---|")
        for name, r in results.items():
            rate = f"{r['rows_s']:,.0f}" if "rows_s" in r else "-"
            dur = f"{r['seconds']:.1f}" if "seconds" in r else "-"
            print(f"| {name} | {rate} | {dur} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.0f} | "
                  f"{r['lock_wait_ms']:.0f} |")  # fmt: skip
        print()
        for line in notes:
            print(f"- {line}")
        print(
            f"- peak memory (max RSS) of `sqlmig apply`: {rss_small / 1024:.0f} MiB at 100,000 rows, "
            f"{rss_big / 1024:.0f} MiB at {n:,} rows"
        )
    finally:
        server.drop(url)
        server_scope.close()  # stops the throw-away server, if one was started


if __name__ == "__main__":
    main()
