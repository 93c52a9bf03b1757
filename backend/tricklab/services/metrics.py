"""Metric points: idempotent batch writes, key listing and shape-preserving downsampling."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from tricklab.db.models import MetricPoint, Run
from tricklab.db.session import begin_write
from tricklab.reporting import MetricPoint as ReportedPoint
from tricklab.schemas.api import MetricKeyOut, MetricKeysOut, MetricSeriesOut
from tricklab.services import multi_row, rollup_merge, rollups
from tricklab.services.driver_rows import driver_rows
from tricklab.services.errors import ConflictError, NotFoundError
from tricklab.services.leases import split_value

_INSERT_HEAD = "INSERT INTO metrics (run_id, key, step, value, non_finite, wall_time)"
_INSERT_TAIL = " ON CONFLICT (run_id, key, step) DO NOTHING"
_INSERT_TYPES = ("bigint", "varchar", "bigint", "float8", "varchar", "float8")


@dataclass
class _Batch:
    """A batch's rows as columns, and each key's steps and stored values (None where non-finite) for the rollups."""

    run_ids: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    flags: list[str | None] = field(default_factory=list)
    wall_times: list[float] = field(default_factory=list)
    by_key: dict[str, tuple[list[int], list[float | None]]] = field(default_factory=dict)

    def add(
        self,
        run_id: int,
        key: str,
        steps: Sequence[int],
        values: list[float | None],
        flags: list[str | None],
        wall_times: Sequence[float],
    ) -> None:
        n = len(steps)
        self.run_ids.extend([run_id] * n)
        self.keys.extend([key] * n)
        self.steps.extend(steps)
        self.values.extend(values)
        self.flags.extend(flags)
        self.wall_times.extend(wall_times)
        key_steps, key_values = self.by_key.setdefault(key, ([], []))
        key_steps.extend(steps)
        key_values.extend(values)

    def store(self, db_session: Session, run_id: int) -> None:
        """Insert the rows, then bring the rollups up to date (in the caller's transaction).

        INSERT ... ON CONFLICT DO NOTHING: re-sent (run, key, step) points are ignored. When
        every row was stored, the batch's own summaries are merged into the rollups (one upsert
        for all levels); when one was skipped (a re-sent or overlapping batch, or a step repeated
        in the batch) the touched buckets are recomputed from the points instead (issue 7).
        """
        if not self.steps:
            return
        columns = (self.run_ids, self.keys, self.steps, self.values, self.flags, self.wall_times)
        stored = multi_row.insert_rows(db_session, _INSERT_HEAD, _INSERT_TAIL, columns, _INSERT_TYPES)
        if stored == len(self.steps):
            rollup_merge.merge(db_session, run_id, self.by_key)
        else:
            rollups.refresh(db_session, run_id, {key: steps for key, (steps, _) in self.by_key.items()})


def insert_points(db_session: Session, run_id: int, points: Sequence[ReportedPoint]) -> None:
    """Store points idempotently on (run, key, step) and refresh the rollups, in the caller's transaction.

    Plain values through the driver, no ORM: the ORM's bulk insert spent more time building
    parameter dicts than SQLite spent storing the rows (issue 7, benchmarks/bench_ingest.py).
    """
    batch = _Batch()
    for p in points:
        value, flag = split_value(float(p.value))
        step = int(p.step)
        batch.keys.append(p.key)
        batch.steps.append(step)
        batch.values.append(value)
        batch.flags.append(flag)
        batch.wall_times.append(float(p.wall_time))
        key_steps, key_values = batch.by_key.setdefault(p.key, ([], []))
        key_steps.append(step)
        key_values.append(value)
    batch.run_ids = [run_id] * len(batch.steps)
    batch.store(db_session, run_id)


@dataclass(frozen=True)
class Columns:
    """One key's points as parallel sequences (the REST batch's columnar ``series`` form)."""

    key: str
    steps: Sequence[int]
    values: Sequence[float]
    wall_times: Sequence[float]


def insert_columns(db_session: Session, run_id: int, series: Sequence[Columns]) -> None:
    """``insert_points`` for columnar batches: the columns are extended from the arrays, no object per point."""
    batch = _Batch()
    for s in series:
        n = len(s.steps)
        if not n == len(s.values) == len(s.wall_times):
            raise ValueError(f"series {s.key!r}: steps, values and wall_times differ in length")
        if all(map(math.isfinite, s.values)):
            # the common case: every value is stored as is, with no non-finite flag
            batch.add(run_id, s.key, s.steps, list(s.values), [None] * n, s.wall_times)
        else:
            split = [split_value(v) for v in s.values]
            batch.add(run_id, s.key, s.steps, [v for v, _ in split], [f for _, f in split], s.wall_times)
    batch.store(db_session, run_id)


# Through the driver's cursor: the ORM's execute of the same statement took ~42 us, this ~4 us (issue 7).
_ATTEMPT_AND_TEAM = (
    "SELECT runs.attempt, experiments.team_id FROM runs JOIN experiments ON experiments.id = runs.experiment_id"
    " WHERE runs.id = {0}"
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
    rows = driver_rows(db_session, _ATTEMPT_AND_TEAM, (run_id,))
    current = rows[0][0] if rows and (team_id is None or rows[0][1] == team_id) else None
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
