"""Benchmark of `sqlmig lint` (issue 5): 1,000 generated migrations, and one file as pre-commit lints it.

    .venv/bin/python bench/lint_bench.py [--migrations 1000] [--rounds 5] [--big-statements 20000]

The generated project mixes what real migration folders hold: tables with a dozen columns,
foreign keys and indexes, added columns, concurrent index builds (transaction: none), NOT VALID
constraints and their validation, views, plpgsql functions with triggers, batched backfills,
renames and contract-phase drops, each with its rollback and manifest (about 4 statements per
forward file, 8,000 files' worth of lint with the rollbacks). Figures (best and median of
--rounds): the whole project in one process run (wall, interpreter start included), per file,
and `sqlmig lint one.sql` outside a project; plus the import time that start-up costs.
Then one long file, the shape of a data dump (a table and an INSERT per line, 250 bytes per row:
20,000 statements is 5 MB), at 2,500, 5,000, … up to --big-statements statements: lint must stay
linear in the length of a file (a rule that looked at every earlier statement for each one made
20,000 statements take 44 s). Figures, never assertions: the machine is shared.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import SQLMIG, best_median, timed_run


def _table(i: int, rnd: random.Random) -> tuple[str, str]:
    types = ["text", "integer", "bigint", "boolean", "timestamptz", "numeric(12, 2)", "jsonb"]
    extras = ["", " NOT NULL", " DEFAULT 0", " DEFAULT now()"]
    cols = [
        f"c{j} {rnd.choice(types)}{rnd.choice(extras[:3] if j % 2 else extras[::3])}" for j in range(rnd.randint(4, 12))
    ]
    ref = f",\n    parent_id bigint REFERENCES t_{rnd.randint(1, i - 1)} (id)" if i > 1 and rnd.random() < 0.5 else ""
    body = ",\n    ".join(["id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", *cols]) + ref
    up = (
        f"-- table {i}: what the feature needs\nCREATE TABLE t_{i} (\n    {body},\n"
        f"    created_at timestamptz NOT NULL DEFAULT now()\n);\n"
        f"CREATE INDEX t_{i}_created_idx ON t_{i} (created_at);\n"
    )
    if ref:
        up += f"CREATE INDEX t_{i}_parent_idx ON t_{i} (parent_id);\n"
    return up, f"DROP TABLE t_{i};\n"


def migration(i: int, rnd: random.Random, tables: list[int]) -> tuple[str, str, str]:
    """(forward, rollback, manifest) for migration i."""
    t = f"t_{rnd.choice(tables)}" if tables else None
    kind = rnd.choice(["table", "table", "column", "index", "constraint", "view", "trigger", "backfill", "rename"])
    man = f"description: Migration {i}.\nphase: expand\nlock_timeout: 3s\n"
    if kind == "table" or t is None:
        up, down = _table(i, rnd)
        tables.append(i)
        return up, down, man
    if kind == "column":
        return (f"ALTER TABLE {t} ADD COLUMN note_{i} text, ADD COLUMN flag_{i} boolean NOT NULL DEFAULT false;\n"
                f"COMMENT ON COLUMN {t}.note_{i} IS 'free text from the form';\n",
                f"ALTER TABLE {t} DROP COLUMN flag_{i}, DROP COLUMN note_{i};\n", man)  # fmt: skip
    if kind == "index":
        return (f"DROP INDEX CONCURRENTLY IF EXISTS {t}_c0_{i}_idx;\n"
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {t}_c0_{i}_idx ON {t} (c0, created_at);\n",
                f"DROP INDEX CONCURRENTLY IF EXISTS {t}_c0_{i}_idx;\n", man + "transaction: none\n")  # fmt: skip
    if kind == "constraint":
        return (f"ALTER TABLE {t} ADD CONSTRAINT {t}_check_{i} CHECK (created_at > '2000-01-01') NOT VALID;\n",
                f"ALTER TABLE {t} DROP CONSTRAINT {t}_check_{i};\n", man)  # fmt: skip
    if kind == "view":
        return (f"CREATE VIEW v_{i} AS\nSELECT id, created_at, count(*) OVER () AS total\nFROM {t}\n"
                f"WHERE created_at > now() - interval '30 days';\n", f"DROP VIEW v_{i};\n", man)  # fmt: skip
    if kind == "trigger":
        return (f"CREATE FUNCTION touch_{i}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
                f"    NEW.created_at := coalesce(NEW.created_at, now());\n    RETURN NEW;\nEND;\n$$;\n"
                f"CREATE TRIGGER {t}_touch_{i} BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION touch_{i}();\n",
                f"DROP TRIGGER {t}_touch_{i} ON {t};\nDROP FUNCTION touch_{i}();\n", man)  # fmt: skip
    if kind == "backfill":
        return (
            f"UPDATE {t} SET c0 = c0 WHERE c0 IS NULL AND id BETWEEN :batch_start AND :batch_end;\n",
            "SELECT 1;\n",
            man.replace("expand", "migrate") + f"batch:\n  table: {t}\n  key: id\n  size: 500\n",
        )
    return (f"ALTER TABLE {t} RENAME COLUMN c0 TO c0_{i};\n", f"ALTER TABLE {t} RENAME COLUMN c0_{i} TO c0;\n",
            man.replace("expand", "contract"))  # fmt: skip


def write_project(root: Path, count: int) -> None:
    rnd = random.Random(5)
    tables: list[int] = []
    for sub in ("migrations", "rollback", "manifests"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(1, count + 1):
        up, down, man = migration(i, rnd, tables)
        stem = f"{i:05d}_change_{i}"
        (root / "migrations" / f"{stem}.sql").write_text(up)
        (root / "rollback" / f"{stem}.sql").write_text(down)
        (root / "manifests" / f"{stem}.yaml").write_text(man)


def dump(statements: int) -> str:
    """A table and `statements - 1` INSERTs, one per line, as a data dump or a seed file holds them."""
    rows = (f"INSERT INTO big VALUES ({i}, 'name {i}', '{'x' * 200}');\n" for i in range(statements - 1))
    return "CREATE TABLE big (id int PRIMARY KEY, name text, payload text);\n" + "".join(rows)


def import_costs(cwd: Path, one: Path) -> list[tuple[int, str]]:
    """The largest cumulative import times (µs) of `sqlmig lint one.sql`, from python -X importtime."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "sqlmig", "lint", str(one)], cwd=cwd,
                       capture_output=True, text=True)  # fmt: skip
    rows = []
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(2)) <= 2:  # top-level imports only
            rows.append((int(m.group(1)), m.group(3)))
    return sorted(rows, reverse=True)[:6]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--migrations", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--big-statements", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        write_project(root, args.migrations)
        files = 2 * args.migrations
        one = Path(tmp) / "one.sql"
        one.write_text("ALTER TABLE users ADD COLUMN plan text;\nCREATE INDEX users_plan_idx ON users (plan);\n")
        whole, single, last = [], [], []
        for _ in range(args.rounds):
            s, _, r = timed_run([*SQLMIG, "lint", "-p", str(root)], cwd=root)  # findings exit non-zero
            whole.append(s)
            single.append(timed_run([*SQLMIG, "lint", str(one)], cwd=Path(tmp))[0])
            newest = root / "migrations" / f"{args.migrations:05d}_change_{args.migrations}.sql"
            last.append(timed_run([*SQLMIG, "lint", "-p", str(root), str(newest)], cwd=root)[0])
        summary = r.stdout.strip().splitlines()[-1]
        stmts = sum(len([x for x in p.read_text().split(";") if x.strip()]) for p in root.rglob("*.sql"))
        (best, median), (last_best, last_median) = best_median(whole), best_median(last)
        print("| what | best | median |\n|---|---|---|")
        print(
            f"| lint {args.migrations} migrations ({files} files, ~{stmts} statements), whole process | "
            f"{best:.2f} s | {median:.2f} s |"
        )
        print(f"| per file | {best / files * 1000:.2f} ms | {median / files * 1000:.2f} ms |")
        print(
            f"| lint the last migration of that project (context replayed) | {last_best:.2f} s | {last_median:.2f} s |"
        )
        print("| `sqlmig lint one.sql` (outside a project) | {:.3f} s | {:.3f} s |".format(*best_median(single)))
        print(f"\nproject result: {summary}")
        print("\nlargest top-level imports of `sqlmig lint one.sql` (cumulative µs):")
        for us, name in import_costs(Path(tmp), one):
            print(f"  {us:>8}  {name}")
        print("\n| one file of INSERTs, outside a project | size | best | median | median per 1,000 statements |")
        print("|---|---|---|---|---|")
        size = 2500
        while size <= args.big_statements:
            big = Path(tmp) / f"dump_{size}.sql"
            big.write_text(dump(size))
            runs = [timed_run([*SQLMIG, "lint", str(big)], cwd=Path(tmp))[0] for _ in range(args.rounds)]
            best, median = best_median(runs)
            print(f"| {size:,} statements | {big.stat().st_size / 1e6:.1f} MB | {best:.2f} s | {median:.2f} s | "
                  f"{median / size * 1000:.3f} s |")  # fmt: skip
            size *= 2


if __name__ == "__main__":
    main()
