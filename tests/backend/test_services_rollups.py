"""Metric rollups: exact against a brute-force bucketing, idempotent on re-sent and out-of-order batches,
zoomed ranges exact at their edges, and the indexes the curve and analysis queries rely on."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from tricklab.db.migrate import upgrade
from tricklab.db.models import MetricRollup
from tricklab.db.session import make_engine
from tricklab.reporting import MetricPoint
from tricklab.services import leases, metrics, rollups

from tests.backend.store_helpers import RecordingCelery, create_experiment, run_ids


@pytest.fixture
def run_id(db_session: Session, celery_app: RecordingCelery) -> int:
    rid = run_ids(db_session, create_experiment(db_session, celery_app, factors=[], seeds=1))[0]
    leases.claim_run(db_session=db_session, run_id=rid, attempt=1, worker_id="w", lease_seconds=30)
    return rid


def _log(db_session: Session, run_id: int, key: str, steps: list[int], values: list[float]) -> None:
    points = [MetricPoint(key=key, step=s, value=v, wall_time=0.0) for s, v in zip(steps, values, strict=True)]
    metrics.log_metrics(db_session=db_session, run_id=run_id, attempt=1, points=points)


def _brute(steps: list[int], values: list[float], lo: int, hi: int, level: int, n: int) -> list[tuple[float, float]]:
    """(min, max) of finite values per output group, the grouping ``rollups.downsample`` promises."""
    w = rollups.width(level)
    first, span = lo // w, hi // w - lo // w + 1
    groups: dict[int, list[float]] = {}
    for s, v in zip(steps, values, strict=True):
        if lo <= s <= hi:
            groups.setdefault((s // w - first) * n // span, []).append(v)
    out = []
    for g in sorted(groups):
        finite = [v for v in groups[g] if math.isfinite(v)]
        out.append((min(finite), max(finite)))
    return out


def test_rollups_match_brute_force_after_resends_and_shuffled_batches(db_session: Session, run_id: int) -> None:
    rng = random.Random(7)
    steps = list(range(0, 40_000, 1))
    values = [math.sin(s / 300.0) + rng.gauss(0, 0.1) for s in steps]
    values[12_345] = 50.0
    values[31_000] = math.nan
    batches = [list(range(i, min(i + 1_000, len(steps)))) for i in range(0, len(steps), 1_000)]
    rng.shuffle(batches)
    for idx in [*batches, batches[3], batches[0]]:  # two batches re-sent
        _log(db_session, run_id, "train_loss", [steps[i] for i in idx], [values[i] for i in idx])
    # every level agrees with the points: counts add up to the number of points
    for level in rollups.LEVELS:
        total = db_session.scalars(
            select(MetricRollup.n_points).where(MetricRollup.run_id == run_id, MetricRollup.level == level)
        ).all()
        assert sum(total) == len(steps)
    for start, end, n in [(None, None, 500), (1_003, 37_777, 300), (12_000, 12_999, 10)]:
        series = metrics.get_series(
            db_session=db_session, run_id=run_id, key="train_loss", max_points=n, start_step=start, end_step=end
        )
        lo = start or 0
        hi = end if end is not None else len(steps) - 1
        assert series.downsampled and series.total_points == hi - lo + 1 and len(series.steps) == n
        chosen = rollups.pick_level(lo, hi, n)
        if chosen is not None:
            expected = _brute(steps, values, lo, hi, chosen, n)
            # min and max are values of actual points, so they match exactly
            assert list(zip(series.mins, series.maxs, strict=True)) == expected
        assert series.steps[0] == lo
    full = metrics.get_series(db_session=db_session, run_id=run_id, key="train_loss", max_points=500)
    assert max(m for m in full.maxs if m is not None) == 50.0


def test_sparse_keys_and_separate_keys_do_not_mix(db_session: Session, run_id: int) -> None:
    _log(db_session, run_id, "val_loss", list(range(0, 200_000, 50)), [1.0] * 4_000)
    _log(db_session, run_id, "train_loss", list(range(0, 200_000, 50)), [2.0] * 4_000)
    series = metrics.get_series(db_session=db_session, run_id=run_id, key="val_loss", max_points=1_000)
    assert series.total_points == 4_000 and set(series.maxs) == {1.0} and set(series.mins) == {1.0}


def _plan(db_session: Session, sql: str, params: dict[str, object]) -> str:
    dialect = db_session.get_bind().dialect.name
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    rows = db_session.execute(text(prefix + sql), params).all()
    return "\n".join(str(r[-1] if dialect == "sqlite" else r[0]) for r in rows)


def test_curve_and_analysis_queries_use_their_indexes(db_session: Session, run_id: int) -> None:
    if db_session.get_bind().dialect.name == "postgresql":
        # On a near-empty table the planner rightly prefers a scan; forbid it to see which index it would use.
        db_session.execute(text("SET LOCAL enable_seqscan = off"))
    point_range = _plan(
        db_session,
        "SELECT step, value FROM metrics WHERE run_id = :r AND key = :k AND step >= :lo ORDER BY step LIMIT 10",
        {"r": run_id, "k": "train_loss", "lo": 0},
    )
    rollup_range = _plan(
        db_session,
        "SELECT bucket, value_min FROM metric_rollups WHERE run_id = :r AND key = :k AND level = 5"
        " AND bucket > 1 AND bucket < 100 ORDER BY bucket",
        {"r": run_id, "k": "train_loss"},
    )
    curves = _plan(
        db_session,
        "SELECT m.run_id, m.step, m.value FROM metrics m JOIN runs r ON r.id = m.run_id"
        " WHERE r.experiment_id = :e AND m.key = :k ORDER BY m.run_id, m.step",
        {"e": 1, "k": "train_loss"},
    )
    if db_session.get_bind().dialect.name == "sqlite":
        # WITHOUT ROWID tables are their primary key: a SEARCH on it is the clustered range scan.
        assert "SEARCH metrics USING PRIMARY KEY (run_id=? AND key=? AND step>?)" in point_range
        assert "SEARCH metric_rollups USING PRIMARY KEY (run_id=? AND key=? AND level=? AND bucket>? AND bucket<?)" in (
            rollup_range
        )
        assert "SEARCH r USING COVERING INDEX ix_runs_experiment_status (experiment_id=?)" in curves
        assert "SEARCH m USING PRIMARY KEY (run_id=? AND key=?)" in curves
    else:
        assert "pk_metrics" in point_range and "Seq Scan" not in point_range
        assert "pk_metric_rollups" in rollup_range and "Seq Scan" not in rollup_range
        assert "pk_metrics" in curves and "ix_runs_experiment_status" in curves


def test_migration_backfills_rollups_of_existing_points(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade(url, "0001")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO experiments (id, name, task, spec, resolved, metric, direction, status, n_runs,"
                    " created_at) VALUES (1, 'e', 'digits', '{}', '{}', 'm', 'maximize', 'queued', 1, '2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO runs (id, experiment_id, combo_key, tricks, levels, seed, config, status, attempt,"
                    " queued_at, progress, cancel_requested) VALUES (1, 1, 'base', '{}', '{}', 0, '{}', 'running', 1,"
                    " '2026-01-01', 0, 0)"
                )
            )
            conn.execute(
                text("INSERT INTO metrics (run_id, key, step, value, wall_time) VALUES (1, 'loss', :s, :v, 0)"),
                [{"s": s, "v": float(s % 97)} for s in range(5_000)],
            )
        upgrade(url, "0002_metric_rollups")
        with engine.connect() as conn:
            top = conn.execute(text("SELECT n_points, value_min, value_max FROM metric_rollups WHERE level = 10")).all()
            level2 = conn.scalar(text("SELECT count(*) FROM metric_rollups WHERE level = 2"))
        assert top == [(5_000, 0.0, 96.0)] and level2 == 5_000 // 16 + 1
    finally:
        engine.dispose()
