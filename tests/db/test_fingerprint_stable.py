"""A baseline recorded by an earlier sqlmig still compares equal on an unchanged schema.

`sqlmig drift` compares the live schema's hash with the one recorded after the last run,
possibly by an older sqlmig: a change in how the fingerprint reads or encodes a schema
would report drift on every untouched database. The snapshot of rich_schema.sql (with a
comment on every kind of object that can carry one) is pinned here, its hash included;
it was recorded before the catalog queries were rewritten for speed (one pipeline,
comments read by a join) and is read the same by the rewrite. A difference is a format
change: it needs an explicit conversion of recorded baselines, not a new pinned file.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from sqlmig import fingerprint
from tests.conftest import REPO

DATA = REPO / "tests" / "db" / "data"
COMMENTS = """
COMMENT ON INDEX items_sku_idx IS 'unique sku';
COMMENT ON CONSTRAINT items_name_len ON items IS 'short names';
COMMENT ON TRIGGER items_touch ON items IS 'touch';
COMMENT ON TYPE mood IS 'feelings';
COMMENT ON DOMAIN positive_int IS 'positive';
COMMENT ON TYPE money_amount IS 'money';
COMMENT ON SEQUENCE order_no IS 'order numbers';
COMMENT ON VIEW cheap_items IS 'cheap';
COMMENT ON MATERIALIZED VIEW item_counts IS 'counts';
COMMENT ON COLUMN audit.log.what IS 'what happened';
COMMENT ON COLUMN items.id IS 'identity';
COMMENT ON PROCEDURE archive(integer) IS 'archive';
"""


def test_an_unchanged_schema_hashes_as_the_pinned_snapshot(database_url):
    pinned = json.loads((DATA / "rich_schema.fingerprint.json").read_text())
    with psycopg.connect(database_url, autocommit=True) as conn:
        if conn.info.server_version // 10000 != pinned["server_major"]:
            pytest.skip(f"the pinned snapshot was read on PostgreSQL {pinned['server_major']}")
        conn.execute((DATA / "rich_schema.sql").read_text())
        conn.execute(COMMENTS)
        fp = fingerprint.take(conn)
    assert fp.snapshot == pinned["snapshot"]
    assert fp.hash == pinned["hash"]
    assert fingerprint.decompress(fp.compress()) == pinned["snapshot"]
