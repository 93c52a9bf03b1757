"""Metric points: idempotent batch writes, key listing and shape-preserving downsampling."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from tricklab.db.models import Experiment, MetricPoint, Run
from tricklab.db.session import begin_write
from tricklab.reporting import MetricPoint as ReportedPoint
from tricklab.schemas.api import MetricKeyOut, MetricKeysOut, MetricSeriesOut
from tricklab.services import rollups
from tricklab.services.errors import ConflictError, NotFoundError
from tricklab.services.leases import split_value

_INSERT_SQL = (
    "INSERT INTO metrics (run_id, key, step, value, non_finite, wall_time) VALUES ({0}, {0}, {0}, {0}, {0}, {0})"
    " ON CONFLICT (run_id, key, step) DO NOTHING"
)


def insert_points(db_session: Session, run_id: int, points: Sequence[ReportedPoint]) -> None:
    """One executemany of INSERT ... ON CONFLICT DO NOTHING: re-sent (run, key, step) points are ignored.

    Plain tuples through the driver's executemany: the ORM's bulk insert spent more time
    building parameter dicts than SQLite spent storing the rows (issue 7, benchmarks/bench_ingest.py).
    """
    if not points:
        return
    rows: list[tuple[int, str, int, float | None, str | None, float]] = []
    steps_by_key: dict[str, list[int]] = {}
    for p in points:
        value, flag = split_value(float(p.value))
        step = int(p.step)
        rows.append((run_id, p.key, step, value, flag, float(p.wall_time)))
        steps_by_key.setdefault(p.key, []).append(step)
    connection = db_session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(_INSERT_SQL.format(marker), rows)
    rollups.refresh(db_session, run_id, steps_by_key)


@dataclass(frozen=True)
class Columns:
    """One key's points as parallel sequences (the REST batch's columnar ``series`` form)."""

    key: str
    steps: Sequence[int]
    values: Sequence[float]
    wall_times: Sequence[float]


def insert_columns(db_session: Session, run_id: int, series: Sequence[Columns]) -> None:
    """``insert_points`` for columnar batches: rows zipped straight from the arrays, no object per point."""
    rows: list[tuple[int, str, int, float | None, str | None, float]] = []
    steps_by_key: dict[str, list[int]] = {}
    for s in series:
        if not len(s.steps) == len(s.values) == len(s.wall_times):
            raise ValueError(f"series {s.key!r}: steps, values and wall_times differ in length")
        if all(map(math.isfinite, s.values)):
            # the common case: every value is stored as is, with no non-finite flag
            rows.extend(zip(repeat(run_id), repeat(s.key), s.steps, s.values, repeat(None), s.wall_times, strict=False))
        else:
            for step, value, wall in zip(s.steps, s.values, s.wall_times, strict=True):
                stored, flag = split_value(value)
                rows.append((run_id, s.key, step, stored, flag, wall))
        steps_by_key.setdefault(s.key, []).extend(s.steps)
    if not rows:
        return
    connection = db_session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(_INSERT_SQL.format(marker), rows)
    rollups.refresh(db_session, run_id, steps_by_key)


_ATTEMPT_AND_TEAM = (
    select(Run.attempt, Experiment.team_id)
    .join(Experiment, Experiment.id == Run.experiment_id)
    .where(Run.id == bindparam("run_id"))
)


def log_metrics(
    *,
    db_session: Session,
    run_id: int,
    attempt: int,
    points: Sequence[ReportedPoint] = (),
    series: Sequence[Columns] = (),
    team_id: int | None = None,
) -> None:
    """Write a batch (points and/or series) for ``attempt`` in one transaction; a superseded attempt is refused.

    With ``team_id`` (the REST route) another team's run is answered as missing, checked by the
    same query as the attempt: one statement instead of a read transaction of its own (issue 7).
    """
    begin_write(db_session)
    if team_id is None:
        current = db_session.scalar(select(Run.attempt).where(Run.id == run_id))
    else:
        row = db_session.execute(_ATTEMPT_AND_TEAM, {"run_id": run_id}).first()
        current = row[0] if row is not None and row[1] == team_id else None
    if current is None:
        db_session.rollback()
        raise NotFoundError(f"run {run_id} not found")
    if current != attempt:
        db_session.rollback()
        raise ConflictError(f"run {run_id} is held by attempt {current}, not {attempt}")
    insert_points(db_session, run_id, points)
    insert_columns(db_session, run_id, series)
    db_session.commit()


def _require_run(db_session: Session, run_id: int) -> None:
    if db_session.scalar(select(Run.id).where(Run.id == run_id)) is None:
        raise NotFoundError(f"run {run_id} not found")


def list_keys(*, db_session: Session, run_id: int) -> MetricKeysOut:
    """Every key of a run with its point count and last (step, value)."""
    _require_run(db_session, run_id)
    per_key = (
        select(
            MetricPoint.key.label("key"),
            func.count().label("n"),
            func.max(MetricPoint.step).label("last_step"),
        )
        .where(MetricPoint.run_id == run_id)
        .group_by(MetricPoint.key)
        .subquery()
    )
    last = MetricPoint.__table__.alias("last")
    rows = db_session.execute(
        select(per_key.c.key, per_key.c.n, per_key.c.last_step, last.c.value)
        .join(
            last,
            and_(last.c.run_id == run_id, last.c.key == per_key.c.key, last.c.step == per_key.c.last_step),
        )
        .order_by(per_key.c.key)
    ).all()
    return MetricKeysOut(
        keys=[MetricKeyOut(key=k, count=int(n), last_step=int(s), last_value=v) for k, n, s, v in rows]
    )


def get_series(
    *,
    db_session: Session,
    run_id: int,
    key: str,
    max_points: int = 1000,
    start_step: int | None = None,
    end_step: int | None = None,
) -> MetricSeriesOut:
    """A metric's points, or ``max_points`` step buckets each with first step, mean, min and max.

    Keeping min and max per bucket means no spike is dropped, unlike reservoir sampling. Long
    ranges are read from the rollup summaries (``tricklab.services.rollups``), short ones from the points.
    Non-finite points are NULL values: they count as points but not in means.
    """
    _require_run(db_session, run_id)
    where = [MetricPoint.run_id == run_id, MetricPoint.key == key]
    if start_step is not None:
        where.append(MetricPoint.step >= start_step)
    if end_step is not None:
        where.append(MetricPoint.step <= end_step)
    # At most max_points + 1 rows: enough to know whether the range needs downsampling at all.
    rows = db_session.execute(
        select(MetricPoint.step, MetricPoint.value).where(*where).order_by(MetricPoint.step).limit(max_points + 1)
    ).all()
    if len(rows) <= max_points:
        values = [v for _, v in rows]
        return MetricSeriesOut(
            key=key,
            steps=[int(s) for s, _ in rows],
            values=values,
            mins=list(values),
            maxs=list(values),
            total_points=len(rows),
            downsampled=False,
        )
    lo = int(rows[0][0])
    last = db_session.scalar(select(MetricPoint.step).where(*where).order_by(MetricPoint.step.desc()).limit(1))
    hi = int(last) if last is not None else lo
    level = rollups.pick_level(lo, hi, max_points)
    if level is not None:
        summary, total = rollups.downsample(
            db_session, run_id=run_id, key=key, lo=lo, hi=hi, level=level, max_points=max_points
        )
        return MetricSeriesOut(
            key=key,
            steps=[b.first_step for b in summary],
            values=[b.mean for b in summary],
            mins=[b.value_min for b in summary],
            maxs=[b.value_max for b in summary],
            total_points=total,
            downsampled=True,
        )
    # A short step range (under 2 * max_points rollup buckets): one GROUP BY over its few points.
    total = int(db_session.scalar(select(func.count()).select_from(MetricPoint).where(*where)) or 0)
    span = int(hi) - int(lo) + 1
    # Integer arithmetic on both dialects: bucket i covers steps [lo + i*span/n, lo + (i+1)*span/n).
    bucket = ((MetricPoint.step - int(lo)) * max_points // span).label("bucket")
    buckets = db_session.execute(
        select(
            bucket,
            func.min(MetricPoint.step),
            func.avg(MetricPoint.value),
            func.min(MetricPoint.value),
            func.max(MetricPoint.value),
        )
        .where(*where)
        .group_by(bucket)
        .order_by(bucket)
    ).all()
    return MetricSeriesOut(
        key=key,
        steps=[int(b[1]) for b in buckets],
        values=[None if b[2] is None else float(b[2]) for b in buckets],
        mins=[None if b[3] is None else float(b[3]) for b in buckets],
        maxs=[None if b[4] is None else float(b[4]) for b in buckets],
        total_points=total,
        downsampled=True,
    )
