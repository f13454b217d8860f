"""Benchmark of apply over a network: core_bench's floor and apply through a link with a round-trip time.

    .venv/bin/python bench/network_bench.py [--migrations 500] [--rounds 3] [--rtt-us 500]

A production database is rarely on the deploying machine. psql waits a round trip for every
statement; sqlmig streams a run of transactional migrations (sqlmig.stream) and does not wait
between queries. To show what that is worth, this starts a throw-away embedded PostgreSQL and
a TCP proxy in front of its unix socket that delivers every chunk, both ways, half of
--rtt-us late (500 us: two machines in one data centre; the round trip a query really sees
through it is measured and printed), then times the psql floor and
`sqlmig apply` through it as core_bench does. The proxy runs on the same 2 cores as the
server and both clients, with the same cost for each side. Figures, never assertions.
"""

from __future__ import annotations

import os
import queue
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _common import SQLMIG, Server, admin_url, parser, psql_path, stats, timed
from core_bench import write_project
from psycopg.conninfo import conninfo_to_dict, make_conninfo


class LatencyProxy:
    """127.0.0.1:port -> the server's unix socket; every chunk is delivered `one_way` seconds late.

    Threads and time.sleep, not asyncio: an event loop's timers have a millisecond's resolution,
    which would turn a 250 us delay into one of a millisecond or more.
    """

    def __init__(self, socket_path: str, one_way: float) -> None:
        self.socket_path, self.one_way = socket_path, one_way
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            server = socket.socket(socket.AF_UNIX)
            server.connect(self.socket_path)
            for src, dst in ((client, server), (server, client)):
                chunks: queue.Queue = queue.Queue()
                threading.Thread(target=self._read, args=(src, chunks), daemon=True).start()
                threading.Thread(target=self._write, args=(dst, chunks), daemon=True).start()

    def _read(self, src: socket.socket, chunks: queue.Queue) -> None:
        while data := src.recv(65536):
            chunks.put((time.perf_counter() + self.one_way, data))
        chunks.put((time.perf_counter() + self.one_way, b""))

    def _write(self, dst: socket.socket, chunks: queue.Queue) -> None:
        while True:
            due, data = chunks.get()
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            if not data:
                dst.close()
                return
            dst.sendall(data)

    def url(self, direct_url: str) -> str:
        """`direct_url`'s database and user, through the proxy."""
        parts = conninfo_to_dict(direct_url)
        return make_conninfo(user=parts.get("user", "postgres"), dbname=parts["dbname"], host="127.0.0.1",
                             port=str(self.port), sslmode="disable")  # fmt: skip

    def measured_rtt(self, direct_url: str, count: int = 200) -> float:
        """The round trip a query really sees through the proxy (seconds): scheduling adds to the delay."""
        import psycopg

        with psycopg.connect(self.url(direct_url), autocommit=True) as conn:
            start = time.perf_counter()
            for _ in range(count):
                conn.execute("SELECT 1", prepare=False)
            return (time.perf_counter() - start) / count


def main() -> None:
    ap = parser(__doc__, migrations=500, rounds=3, rtt_us=500)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sqlmig-netbench-"))
    proj = tmp / "proj"
    write_project(proj, args.migrations)
    script = tmp / "floor.sql"
    script.write_text("".join(f"BEGIN;\n{p.read_text()}COMMIT;\n" for p in sorted((proj / "migrations").iterdir())))
    drop = ("DATABASE_URL", "SQLMIG_DATABASE_URL", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop} | {"XDG_CACHE_HOME": str(tmp / "cache")}
    with admin_url(None, tmp) as admin:
        server = Server(admin)
        socket_dir = conninfo_to_dict(admin)["host"]
        unix_socket = next(str(p) for p in Path(socket_dir).glob(".s.PGSQL.*") if not p.name.endswith(".lock"))
        proxy = LatencyProxy(unix_socket, args.rtt_us / 2e6)
        rtt = proxy.measured_rtt(admin)
        timed([*SQLMIG, "--version"], env)  # writes the bytecode
        floor, apply, made = [], [], []
        for _ in range(args.rounds):
            made.append(server.fresh())
            floor.append(timed([str(psql_path()), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", proxy.url(made[-1]),
                                "-f", str(script)]))  # fmt: skip
            made.append(server.fresh())
            for cached in (tmp / "cache").glob("sqlmig/*"):
                cached.unlink()  # a first run on the checkout, as core_bench
            apply.append(timed([*SQLMIG, "apply", "-d", proxy.url(made[-1]), "-p", str(proj)], env))
        for url in made:
            server.drop(url)
    print(
        f"round trip {args.rtt_us} us asked, {rtt * 1e6:.0f} us measured (SELECT 1 through the proxy); "
        f"{args.migrations} migrations, {args.rounds} rounds\n"
    )
    print("| what | wall, best (s) | wall, median (s) | client CPU, median (s) |\n|---|---|---|---|")
    for label, values in (("psql floor", floor), ("`sqlmig apply`", apply)):
        best, med, cpu = stats(values)
        print(f"| {label} | {best:.3f} | {med:.3f} | {cpu:.3f} |")
    each = sorted(a[0] / f[0] for a, f in zip(apply, floor, strict=True))
    print(f"\napply / floor: {', '.join(f'{r:.2f}×' for r in each)} (median {statistics.median(each):.2f}×)")


if __name__ == "__main__":
    main()
