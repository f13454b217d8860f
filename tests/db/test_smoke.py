"""The example project applies, reports status and rolls back on a real server."""

from __future__ import annotations

import json
import shutil

from tests.conftest import REPO


def test_example_project_applies_and_reports_status(tmp_path, database_url, cli, db):
    for sub in ("migrations", "rollback", "manifests"):
        shutil.copytree(REPO / sub, tmp_path / sub)
    res = cli("apply", "--yes", "--database-url", database_url, "--project", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "applied 8 migrations" in res.stdout
    res = cli("status", "--format", "json", "--database-url", database_url, "--project", str(tmp_path))
    rows = json.loads(res.stdout)
    assert [r["status"] for r in rows] == ["applied"] * 8
    assert db.execute("SELECT count(*) FROM products WHERE unit = 'each'").fetchone()[0] == 500
    # the trigger keeps stock levels in step
    db.execute("INSERT INTO stock_movements (product_id, warehouse_id, delta) VALUES (1, 1, 5), (1, 1, -2)")
    assert db.execute("SELECT on_hand FROM product_stock WHERE product_id = 1").fetchone()[0] == 3
