"""An experiment's curves on a common grid read from the metric rollups instead of every point.

The experiment page aggregates one key over every run: 1,024 runs of 1,000 steps are a million
points, and reading them took 4-8 s (issue 7). The rollups already hold each run's sum and
count per step bucket aligned to absolute steps, kept exact on every write (partial runs
included), so a grid whose buckets are one rollup level's buckets is read from ~64 rows per
run. The result equals ``curves.to_grid`` over the raw points with those bucket edges: same
bucket means, labels (the first step recorded in the bucket by any run) and gap interpolation.
Runs with a non-finite value are truncated at it, which a bucket sum cannot express, so those
few runs are read from their points. Each run's buckets are kept per process
(``run_buckets``) and read again only when the run got new points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select, true
from sqlalchemy.orm import Session

from tricklab.analysis.curves import Series, fill_gaps, to_grid
from tricklab.db.models import Experiment, MetricPoint, Run
from tricklab.services import rollups, run_buckets
from tricklab.services.driver_rows import driver_rows

# Below this many points the page reads them all and keeps the finer, exact grid of ``common_grid``.
RAW_POINTS = 50_000
NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


@dataclass(frozen=True)
class GridCurves:
    """Grid steps, one matrix row per run (NaN where it has no value) and run id -> row."""

    grid: np.ndarray
    matrix: np.ndarray
    row_of: dict[int, int]


def load_series(
    *, db_session: Session, experiment_id: int, key: str, run_ids: Sequence[int] | None = None
) -> dict[int, Series]:
    """Every run's (or only ``run_ids``') recorded points of ``key``, seconds from the run's start (or first point)."""
    starts = {
        rid: s.timestamp() if s else None
        for rid, s in db_session.execute(select(Run.id, Run.started_at).where(Run.experiment_id == experiment_id))
    }
    stmt = (
        select(MetricPoint.run_id, MetricPoint.step, MetricPoint.value, MetricPoint.non_finite, MetricPoint.wall_time)
        .join(Run, Run.id == MetricPoint.run_id)
        .where(Run.experiment_id == experiment_id, MetricPoint.key == key)
        .where(MetricPoint.run_id.in_(run_ids) if run_ids is not None else true())
        .order_by(MetricPoint.run_id, MetricPoint.step)
    )
    # Core, not ORM, execution and one transpose into columns: for a 1,024-run page (1M points)
    # the ORM's per-row processing and per-column list comprehensions cost several seconds (issue 7).
    rows = db_session.connection().execute(stmt).fetchall()
    if not rows:
        return {}
    run_col, step_col, value_col, flag_col, wall_col = zip(*rows, strict=True)
    run_of = np.fromiter(run_col, dtype=np.int64, count=len(rows))
    steps = np.fromiter(step_col, dtype=np.int64, count=len(rows))
    # NULL values (SQLite stores NaN as NULL) become NaN; the flag says which non-finite value it was.
    values = np.array(value_col, dtype=float)
    flagged = [i for i, f in enumerate(flag_col) if f]
    for i in flagged:
        values[i] = NON_FINITE[flag_col[i]]
    walls = np.fromiter(wall_col, dtype=float, count=len(rows))
    bounds = np.flatnonzero(np.diff(run_of)) + 1
    out: dict[int, Series] = {}
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(rows)], strict=True):
        rid = int(run_of[lo])
        start = starts.get(rid) or float(walls[lo])
        out[rid] = Series(rid, steps[lo:hi], values[lo:hi], walls[lo:hi] - start)
    return out


# Per run: points, finite points, first and last step of the key (the coarsest level has one row per run
# below ~1M steps). PostgreSQL sums bigints as numeric, so every value goes through int().
_EXTENTS_SQL = (
    "SELECT run_id, sum(n_points), sum(n_finite), min(first_step), max(last_step) FROM metric_rollups"
    " WHERE key = {0} AND level = {0} AND run_id IN (SELECT id FROM runs WHERE experiment_id = {0}) GROUP BY run_id"
)


def grid_level(lo: int, hi: int, points: int) -> int:
    """The finest rollup level whose buckets over [lo, hi] are at most ``points``."""
    for level in rollups.LEVELS:
        w = rollups.width(level)
        if hi // w - lo // w + 1 <= points:
            return level
    return rollups.LEVELS[-1]


def _rows_with_inner_gaps(matrix: np.ndarray) -> np.ndarray:
    """Rows with a non-finite entry between their first and last finite ones: the only ones ``fill_gaps`` changes.

    While some runs go on, every other row ends in NaN columns; calling ``fill_gaps`` on each of
    1,024 rows for nothing cost ~15 ms per request (issue 7).
    """
    finite = np.isfinite(matrix)
    if finite.size == 0:
        return np.zeros(0, dtype=np.int64)
    first = finite.argmax(axis=1)
    last = matrix.shape[1] - 1 - finite[:, ::-1].argmax(axis=1)
    return np.flatnonzero(finite.any(axis=1) & (finite.sum(axis=1) < last - first + 1))


def load_grid(*, db_session: Session, experiment_id: int, key: str, points: int) -> GridCurves | None:
    """Every run's ``key`` curve on a rollup-aligned grid; None when the points are few enough to read directly."""
    extents = driver_rows(db_session, _EXTENTS_SQL, (key, rollups.LEVELS[-1], experiment_id))
    total = sum(int(e[1]) for e in extents)
    if not extents or total <= RAW_POINTS:
        return None
    lo, hi = min(int(e[3]) for e in extents), max(int(e[4]) for e in extents)
    if hi - lo + 1 <= points:
        return None  # every step fits the page: the exact grid, not buckets
    level = grid_level(lo, hi, points)
    w = rollups.width(level)
    stamps = {int(e[0]): (int(e[1]), int(e[2]), int(e[3]), int(e[4])) for e in extents}
    # only runs with new points since the last page load are read again (a live experiment's running runs)
    generation = db_session.scalar(select(Experiment.created_at).where(Experiment.id == experiment_id))
    per_run = run_buckets.load(
        db_session=db_session, experiment_id=experiment_id, generation=generation, key=key, level=level, stamps=stamps
    )
    ordered = sorted(stamps)
    row_of = {rid: i for i, rid in enumerate(ordered)}
    parts = [per_run[rid] for rid in ordered]
    buckets = np.concatenate([p.buckets for p in parts])
    occupied, column = np.unique(buckets, return_inverse=True)
    # the grid labels: the first step any run recorded in each bucket
    grid = np.full(occupied.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(grid, column, np.concatenate([p.firsts for p in parts]))
    matrix = np.full((len(ordered), occupied.size), np.nan)
    row = np.repeat(np.arange(len(ordered)), [p.buckets.size for p in parts])
    matrix[row, column] = np.concatenate([p.means for p in parts])
    diverged = [int(e[0]) for e in extents if int(e[2]) < int(e[1])]
    if diverged:
        edges = (occupied * w).astype(float)
        series = load_series(db_session=db_session, experiment_id=experiment_id, key=key, run_ids=diverged)
        for rid, s in series.items():
            matrix[row_of[rid]] = to_grid(s, grid, edges)
    skip = set(diverged)
    for i in _rows_with_inner_gaps(matrix).tolist():
        if ordered[i] not in skip:
            fill_gaps(matrix[i], grid)
    return GridCurves(grid=grid, matrix=matrix, row_of=row_of)
