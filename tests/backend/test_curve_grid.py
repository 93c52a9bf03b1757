"""Experiment curves read from the rollups equal the aggregation of the raw points on the same grid.

Runs of different lengths, a run still going (partial last bucket), a run with missing steps
(interpolated gaps), a diverged run (truncated at its NaN) and sparse validation points.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tricklab.analysis.curves import common_grid, fill_gaps, to_grid
from tricklab.db.models import Run
from tricklab.reporting import MetricPoint as ReportedPoint
from tricklab.services import curve_grid, metrics, run_buckets
from tricklab.services.payload_cache import CACHE

SPEC: dict[str, Any] = {
    "name": "grid",
    "task": "digits",
    "base": {"epochs": 2},
    "factors": ["label_smoothing", "warmup"],
    "seeds": 2,
}
STEPS = 320  # 20 level-2 buckets of 16 steps: with points=20 the current equal-width grid is the same buckets


def _points(i: int) -> list[ReportedPoint]:
    rng = np.random.default_rng(i)
    last = STEPS if i % 3 else STEPS - 37  # every third run is still going
    steps = [s for s in range(last) if not (i == 2 and 40 <= s < 90)]  # run 2 missed some steps
    pts = [ReportedPoint("train_loss", s, float(1.0 / (s + 1) + rng.normal(0, 0.01)), float(s)) for s in steps]
    if i == 4:
        pts[150] = ReportedPoint("train_loss", pts[150].step, math.nan, 150.0)  # diverged mid-bucket
    pts += [ReportedPoint("val_loss", s, float(2.0 / (s + 1)), float(s)) for s in range(0, last, 50)]
    return pts


@pytest.fixture(autouse=True)
def empty_memos() -> Iterator[None]:
    run_buckets.MEMO.clear()
    CACHE.clear()
    yield
    run_buckets.MEMO.clear()
    CACHE.clear()


@pytest.fixture
def experiment(client: TestClient, db_session: Session) -> int:
    exp_id = int(client.post("/api/v1/experiments", json=SPEC).json()["id"])
    runs = db_session.scalars(select(Run).where(Run.experiment_id == exp_id).order_by(Run.id)).all()
    for i, run in enumerate(runs):
        run.status = "succeeded" if i % 3 else "running"
        metrics.insert_points(db_session, run.id, _points(i))
    db_session.commit()
    return exp_id


@pytest.mark.parametrize("key", ["train_loss", "val_loss"])
def test_rollup_grid_equals_raw_aggregation(
    db_session: Session, experiment: int, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(curve_grid, "RAW_POINTS", 0)
    got = curve_grid.load_grid(db_session=db_session, experiment_id=experiment, key=key, points=20)
    assert got is not None
    series = curve_grid.load_series(db_session=db_session, experiment_id=experiment, key=key)
    assert list(got.row_of) == list(series)
    steps = np.unique(np.concatenate([s.steps for s in series.values()]))
    edges = np.unique(steps // 16) * 16.0
    np.testing.assert_array_equal(got.grid, [steps[steps >= e][0] for e in edges])
    for rid, s in series.items():
        np.testing.assert_allclose(got.matrix[got.row_of[rid]], to_grid(s, got.grid, edges), rtol=1e-12)
    if key == "train_loss":
        grid, ref_edges = common_grid(list(series.values()), 20)  # the grid the raw path draws
        assert ref_edges is not None and ref_edges.tolist() == edges.tolist() and grid.tolist() == got.grid.tolist()


def test_rollup_grid_after_a_running_runs_next_batch_equals_raw_aggregation(
    db_session: Session, experiment: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(curve_grid, "RAW_POINTS", 0)
    before = curve_grid.load_grid(db_session=db_session, experiment_id=experiment, key="train_loss", points=21)
    running = db_session.scalars(select(Run.id).where(Run.experiment_id == experiment, Run.status == "running")).all()
    # the rest of each running run, partly into buckets it had begun, plus a gap, one bucket past the others
    for rid in running:
        tail = [ReportedPoint("train_loss", s, 0.5 + 0.001 * s, float(s)) for s in range(STEPS - 37, STEPS + 9)]
        metrics.insert_points(db_session, rid, [p for p in tail if not 300 <= p.step < 305])
    after = curve_grid.load_grid(db_session=db_session, experiment_id=experiment, key="train_loss", points=21)
    assert before is not None and after is not None and after.grid.size == before.grid.size + 1
    run_buckets.MEMO.clear()  # the reference: every run read again
    fresh = curve_grid.load_grid(db_session=db_session, experiment_id=experiment, key="train_loss", points=21)
    assert fresh is not None and fresh.row_of == after.row_of
    np.testing.assert_array_equal(after.grid, fresh.grid)
    np.testing.assert_array_equal(after.matrix, fresh.matrix)
    series = curve_grid.load_series(db_session=db_session, experiment_id=experiment, key="train_loss")
    edges = np.unique(np.concatenate([s.steps for s in series.values()]) // 16) * 16.0
    for rid, s in series.items():
        np.testing.assert_allclose(after.matrix[after.row_of[rid]], to_grid(s, after.grid, edges), rtol=1e-12)


def test_curves_route_is_the_same_from_rollups_and_points(
    client: TestClient, experiment: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = {"key": "train_loss", "points": 20, "diff": "warmup"}
    raw = client.get(f"/api/v1/experiments/{experiment}/curves", params=params).json()
    monkeypatch.setattr(curve_grid, "RAW_POINTS", 0)
    CACHE.clear()  # same experiment state: the route would serve the raw path's answer again
    rolled = client.get(f"/api/v1/experiments/{experiment}/curves", params=params).json()
    assert _close(rolled, raw)
    # a page asking for more points than the run has steps still gets the exact grid from the points
    exact = client.get(f"/api/v1/experiments/{experiment}/curves", params={"key": "train_loss", "points": 400})
    assert len(exact.json()["combinations"][0]["steps"]) == STEPS


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    return bool(a == b)


def test_gap_filling_is_asked_of_exactly_the_rows_it_changes() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(300, 12))
    matrix[rng.random(matrix.shape) < 0.25] = np.nan
    matrix[0] = np.nan  # nothing recorded
    matrix[1, 5:] = np.nan  # ended early: trailing NaNs only
    matrix[2, :4] = np.inf  # started late (non-finite counts as missing)
    grid = np.arange(12) * 16
    changed = []
    for i, row in enumerate(matrix):
        filled = row.copy()
        fill_gaps(filled, grid)
        if not np.array_equal(filled, row, equal_nan=True):
            changed.append(i)
    assert curve_grid._rows_with_inner_gaps(matrix).tolist() == changed and 1 not in changed
    assert curve_grid._rows_with_inner_gaps(np.zeros((0, 5))).tolist() == []
