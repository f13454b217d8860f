"""Pure planning: (project, history, target) -> Plan, and drift, without a database."""

from __future__ import annotations

import pytest

from sqlmig.errors import DriftError, RefusedError, UsageError
from sqlmig.history import Applied
from sqlmig.planner import find_drift, plan_apply, plan_rollback, raise_on_drift
from sqlmig.project import load_project


def _row(m, status="applied", **changes) -> Applied:
    sums = m.checksums
    values = dict(version=m.version, name=m.name, phase=m.manifest.phase, status=status,
                  transaction_mode=m.manifest.transaction, checksum=sums["up"], rollback_checksum=sums["rollback"],
                  manifest_checksum=sums["manifest"], statements_done=0, done_checksum=None, started_at=None,
                  finished_at=None, duration_ms=1, applied_by="u", client_host=None, sqlmig_version="0",
                  error=None, rollback_sql=m.rollback.text if m.rollback else None,
                  point_of_no_return=None, rolled_back_at=None, schema_hash=None, backup_file=None)  # fmt: skip
    values.update(changes)
    return Applied(**values)


@pytest.fixture
def proj(project):
    project.add("00001_a", "SELECT 1;")
    project.add("00002_fill", "SELECT 2;", manifest={"phase": "migrate"})
    project.add("00003_b", "SELECT 3;")
    project.add("00004_idx", "SELECT 4;\nSELECT 5;", manifest={"transaction": "none"})
    project.add("00005_drop", "SELECT 6;", down=None, manifest={"phase": "contract", "point_of_no_return": "x"})
    return load_project(project.settings())


def _history(proj, *versions, **rows):
    out = {v: _row(proj.find(v)) for v in versions}
    out.update(rows)
    return out


def test_apply_plans_pending_in_version_order_with_to_and_phase(proj):
    assert [s.version for s in plan_apply(proj, {}).steps] == ["00001", "00002", "00003", "00004", "00005"]
    assert [s.version for s in plan_apply(proj, {}, to="3").steps] == ["00001", "00002", "00003"]
    assert [s.version for s in plan_apply(proj, {}, phase="expand").steps] == ["00001", "00003", "00004"]
    history = _history(proj, "00001", "00003")
    plan = plan_apply(proj, history)
    assert [s.version for s in plan.steps] == ["00002", "00004", "00005"]
    assert plan.notes == ("00002_fill is older than the newest applied migration; applying it out of order",)
    with pytest.raises(UsageError, match="no migration has that version"):
        plan_apply(proj, {}, to="7")
    with pytest.raises(UsageError, match="--phase must be one of"):
        plan_apply(proj, {}, phase="cleanup")


def test_a_failed_transaction_none_run_resumes_and_a_rolled_back_one_is_pending(proj):
    m4 = proj.find("4")
    history = _history(proj, "00001", **{"00004": _row(m4, "failed", statements_done=1),
                                         "00002": _row(proj.find("2"), "rolled_back")})  # fmt: skip
    steps = {s.version: s for s in plan_apply(proj, history).steps}
    assert steps["00004"].resume_from == 1 and steps["00002"].resume_from == 0
    assert steps["00002"].applied.status == "rolled_back"


def test_rollback_plans_newest_first_and_stops_at_a_point_of_no_return(proj):
    history = _history(proj, "00001", "00002", "00003", "00004")
    assert [s.version for s in plan_rollback(proj, history).steps] == ["00004"]
    assert [s.version for s in plan_rollback(proj, history, steps=3).steps] == ["00004", "00003", "00002"]
    assert [s.version for s in plan_rollback(proj, history, to="2").steps] == ["00004", "00003"]
    history = _history(proj, "00001", "00005", **{"00003": _row(proj.find("3"))})
    with pytest.raises(RefusedError, match="cannot roll back past 00005_drop") as info:
        plan_rollback(proj, history, steps=2)
    assert "it cannot be undone by sqlmig" in info.value.hint
    assert plan_rollback(proj, {}).notes == ("nothing to roll back",)
    with pytest.raises(UsageError):
        plan_rollback(proj, history, steps=0)


def test_drift_names_each_changed_file(proj):
    m1, m3 = proj.find("1"), proj.find("3")
    history = {
        "00001": _row(m1, checksum="0" * 64, manifest_checksum="1" * 64),
        "00003": _row(m3, rollback_checksum="2" * 64),
        "00009": _row(m1, version="00009", name="gone"),
        "00008": _row(m1, version="00008", name="failed_gone", status="failed"),
    }
    drift = find_drift(proj, history)
    assert [d.render() for d in drift] == [
        "00001_a: changed: migrations/00001_a.sql, manifests/00001_a.yaml",
        "00003_b: changed: rollback/00003_b.sql",
        "00009_gone: missing: migrations/00009_gone.sql",
    ]
    with pytest.raises(DriftError) as info:
        raise_on_drift(drift)
    assert info.value.exit_code == 3 and len(info.value.details) == 3
    with pytest.raises(DriftError) as info:
        raise_on_drift(drift, allow_missing=True)  # rollback: files gone are fine, edits are not
    assert len(info.value.details) == 2
    raise_on_drift([d for d in drift if d.what == "missing"], allow_missing=True)
