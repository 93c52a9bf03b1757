"""Metric points: idempotent writes, non-finite values, keys and shape-preserving downsampling."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tricklab.db.models import Experiment, Run
from tricklab.db.models import MetricPoint as MetricRow
from tricklab.reporting import MetricPoint
from tricklab.services import leases, metrics
from tricklab.services.errors import ConflictError, NotFoundError

from tests.backend.store_helpers import RecordingCelery, create_experiment, run_ids


@pytest.fixture
def run_id(db_session: Session, celery_app: RecordingCelery) -> int:
    rid = run_ids(db_session, create_experiment(db_session, celery_app, factors=[], seeds=1))[0]
    leases.claim_run(db_session=db_session, run_id=rid, attempt=1, worker_id="w", lease_seconds=30)
    return rid


def _points(key: str, values: list[float], start: int = 0) -> list[MetricPoint]:
    return [MetricPoint(key=key, step=start + i, value=v, wall_time=float(i)) for i, v in enumerate(values)]


def test_writes_are_idempotent(db_session: Session, run_id: int) -> None:
    batch = _points("train_loss", [3.0, 2.0, 1.0])
    metrics.log_metrics(db_session=db_session, run_id=run_id, attempt=1, points=batch)
    # A retried batch overlapping the first one adds only the new step.
    metrics.log_metrics(
        db_session=db_session, run_id=run_id, attempt=1, points=[*batch, *_points("train_loss", [0.5], start=3)]
    )
    n = db_session.scalar(select(func.count()).select_from(MetricRow).where(MetricRow.run_id == run_id))
    assert n == 4
    series = metrics.get_series(db_session=db_session, run_id=run_id, key="train_loss")
    assert series.steps == [0, 1, 2, 3]
    assert series.values == [3.0, 2.0, 1.0, 0.5]
    assert not series.downsampled


def test_non_finite_values_are_flagged(db_session: Session, run_id: int) -> None:
    values = [1.0, float("nan"), float("inf"), float("-inf")]
    metrics.log_metrics(db_session=db_session, run_id=run_id, attempt=1, points=_points("train_loss", values))
    flags = db_session.scalars(
        select(MetricRow.non_finite).where(MetricRow.run_id == run_id).order_by(MetricRow.step)
    ).all()
    assert flags == [None, "nan", "inf", "-inf"]
    series = metrics.get_series(db_session=db_session, run_id=run_id, key="train_loss")
    assert series.values == [1.0, None, None, None]


def test_superseded_attempt_and_unknown_run_are_refused(db_session: Session, run_id: int) -> None:
    with pytest.raises(ConflictError):
        metrics.log_metrics(db_session=db_session, run_id=run_id, attempt=2, points=_points("lr", [0.1]))
    with pytest.raises(NotFoundError):
        metrics.log_metrics(db_session=db_session, run_id=10**9, attempt=1, points=_points("lr", [0.1]))
    with pytest.raises(NotFoundError):
        metrics.list_keys(db_session=db_session, run_id=10**9)


def test_team_check_answers_another_teams_run_as_missing_before_the_attempt(db_session: Session, run_id: int) -> None:
    team_id = db_session.scalar(
        select(Experiment.team_id).join(Run, Run.experiment_id == Experiment.id).where(Run.id == run_id)
    )
    assert team_id is not None
    for attempt in (1, 2):  # a stale attempt of another team's run is still "not found", not a conflict
        with pytest.raises(NotFoundError):
            metrics.log_metrics(
                db_session=db_session, run_id=run_id, attempt=attempt, points=_points("lr", [0.1]), team_id=team_id + 1
            )
    with pytest.raises(ConflictError):
        metrics.log_metrics(
            db_session=db_session, run_id=run_id, attempt=2, points=_points("lr", [0.1]), team_id=team_id
        )
    assert db_session.scalar(select(func.count()).select_from(MetricRow).where(MetricRow.run_id == run_id)) == 0
    series = [metrics.Columns("lr", [0, 1], [0.1, 0.2], [0.0, 1.0])]
    metrics.log_metrics(db_session=db_session, run_id=run_id, attempt=1, series=series, team_id=team_id)
    assert metrics.get_series(db_session=db_session, run_id=run_id, key="lr").values == [0.1, 0.2]


def test_keys_list_count_and_last_value(db_session: Session, run_id: int) -> None:
    metrics.log_metrics(
        db_session=db_session,
        run_id=run_id,
        attempt=1,
        points=[*_points("train_loss", [3.0, 2.0, 1.5]), *_points("val_accuracy", [0.5, 0.7])],
    )
    keys = metrics.list_keys(db_session=db_session, run_id=run_id).keys
    assert [(k.key, k.count, k.last_step, k.last_value) for k in keys] == [
        ("train_loss", 3, 2, 1.5),
        ("val_accuracy", 2, 1, 0.7),
    ]


def test_downsampling_keeps_a_single_spike(db_session: Session, run_id: int) -> None:
    values = [math.sin(i / 50.0) for i in range(10_000)]
    values[7_777] = 1_000.0
    values[2_345] = -500.0
    metrics.log_metrics(db_session=db_session, run_id=run_id, attempt=1, points=_points("train_loss", values))
    series = metrics.get_series(db_session=db_session, run_id=run_id, key="train_loss", max_points=100)
    assert series.downsampled and series.total_points == 10_000
    assert len(series.steps) == 100
    assert series.steps == sorted(series.steps) and series.steps[0] == 0
    assert max(m for m in series.maxs if m is not None) == 1_000.0
    assert min(m for m in series.mins if m is not None) == -500.0
    spike_bucket = next(i for i, m in enumerate(series.maxs) if m == 1_000.0)
    assert series.steps[spike_bucket] <= 7_777 < series.steps[spike_bucket + 1]
    for lo, mean, hi in zip(series.mins, series.values, series.maxs, strict=True):
        assert lo is not None and hi is not None and mean is not None
        assert lo <= mean <= hi


def test_step_range_filter(db_session: Session, run_id: int) -> None:
    metrics.log_metrics(
        db_session=db_session, run_id=run_id, attempt=1, points=_points("lr", [float(i) for i in range(50)])
    )
    series = metrics.get_series(db_session=db_session, run_id=run_id, key="lr", start_step=10, end_step=19)
    assert series.steps == list(range(10, 20))
    zoomed = metrics.get_series(
        db_session=db_session, run_id=run_id, key="lr", max_points=5, start_step=10, end_step=29
    )
    assert zoomed.total_points == 20 and zoomed.downsampled
    assert zoomed.steps == [10, 14, 18, 22, 26]
    assert zoomed.mins == [10.0, 14.0, 18.0, 22.0, 26.0]
    assert zoomed.maxs == [13.0, 17.0, 21.0, 25.0, 29.0]
