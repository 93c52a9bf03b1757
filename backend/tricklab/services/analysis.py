"""Loading an experiment's run table and metric series from SQL for the analysis routes."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from tricklab.analysis.curves import Series, curve_bands, diff_curve
from tricklab.analysis.report import analyze, default_target_key
from tricklab.analysis.schemas import AnalysisOut, CurvesOut, DesignInfo
from tricklab.analysis.table import Cell, RunRecord, RunTable
from tricklab.catalog.tasks import all_tasks
from tricklab.db.models import Experiment, FinalMetric, MetricPoint, Run
from tricklab.design import design_info
from tricklab.export import FORMATS, to_csv, to_json, to_latex, to_markdown
from tricklab.schemas.spec import ExperimentSpec, SpecError, resolve_spec
from tricklab.services.errors import NotFoundError

# Curves every run records (DESIGN.md metric contract): asking for one before any run logged it is not an error.
SERIES_KEYS = frozenset({"train_loss", "lr", "grad_norm", "val_loss", "val_accuracy"})
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class UnknownKeyError(ValueError):
    """A metric, curve key or trick the experiment does not have (HTTP 422)."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(msg)
        self.field = field


def _experiment(db_session: Session, experiment_id: int) -> Experiment:
    row = db_session.get(Experiment, experiment_id)
    if row is None:
        raise NotFoundError(f"experiment {experiment_id} not found")
    return row


def _cells(resolved: dict[str, Any]) -> list[Cell]:
    return [
        Cell(c["key"], tuple(c.get("tricks") or {}), dict(c.get("levels") or {}))
        for c in resolved.get("combinations", [])
    ]


def load_table(*, db_session: Session, experiment_id: int) -> tuple[Experiment, RunTable]:
    """The experiment row and its run table with every final metric (non-finite values as NaN/inf)."""
    exp = _experiment(db_session, experiment_id)
    resolved = exp.resolved or {}
    factors = resolved.get("factors", [])
    tricks = [f["name"] for f in factors if f.get("kind") == "trick"]
    levels = {f["name"]: list(f["levels"]) for f in factors if f.get("kind") == "level"}
    metrics: dict[int, dict[str, float]] = defaultdict(dict)
    stmt = (
        select(FinalMetric.run_id, FinalMetric.key, FinalMetric.value, FinalMetric.non_finite)
        .join(Run, Run.id == FinalMetric.run_id)
        .where(Run.experiment_id == experiment_id)
    )
    for run_id, key, val, non_finite in db_session.execute(stmt):
        metrics[run_id][key] = _NON_FINITE[non_finite] if non_finite else (math.nan if val is None else float(val))
    runs = [
        RunRecord(
            run_id=r.id,
            combo_key=r.combo_key,
            tricks=tuple(r.tricks or {}),
            levels=dict(r.levels or {}),
            seed=r.seed,
            status=r.status,
            metrics=metrics.get(r.id, {}),
            duration_seconds=(r.finished_at - r.started_at).total_seconds() if r.started_at and r.finished_at else None,
            error=r.error,
        )
        for r in db_session.scalars(select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id))
    ]
    table = RunTable(
        runs=runs,
        cells=_cells(resolved),
        trick_factors=tricks,
        level_factors=levels,
        direction=exp.direction,
        design=resolved.get("design", exp.spec.get("design", "full")),
    )
    return exp, table


def load_series(*, db_session: Session, experiment_id: int, key: str) -> dict[int, Series]:
    """Every run's recorded points of ``key``, seconds measured from the run's start (or first point)."""
    starts = {
        rid: s.timestamp() if s else None
        for rid, s in db_session.execute(select(Run.id, Run.started_at).where(Run.experiment_id == experiment_id))
    }
    stmt = (
        select(MetricPoint.run_id, MetricPoint.step, MetricPoint.value, MetricPoint.non_finite, MetricPoint.wall_time)
        .join(Run, Run.id == MetricPoint.run_id)
        .where(Run.experiment_id == experiment_id, MetricPoint.key == key)
        .order_by(MetricPoint.run_id, MetricPoint.step)
    )
    # Core, not ORM, execution and one transpose into columns: for a 1,024-run page (1M points)
    # the ORM's per-row processing and per-column list comprehensions cost several seconds (issue 7).
    rows = db_session.connection().execute(stmt).fetchall()
    if not rows:
        return {}
    run_col, step_col, value_col, flag_col, wall_col = zip(*rows, strict=True)
    run_ids = np.fromiter(run_col, dtype=np.int64, count=len(rows))
    steps = np.fromiter(step_col, dtype=np.int64, count=len(rows))
    # NULL values (SQLite stores NaN as NULL) become NaN; the flag says which non-finite value it was.
    values = np.array(value_col, dtype=float)
    flagged = [i for i, f in enumerate(flag_col) if f]
    for i in flagged:
        values[i] = _NON_FINITE[flag_col[i]]
    walls = np.fromiter(wall_col, dtype=float, count=len(rows))
    bounds = np.flatnonzero(np.diff(run_ids)) + 1
    out: dict[int, Series] = {}
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(rows)], strict=True):
        rid = int(run_ids[lo])
        start = starts.get(rid) or float(walls[lo])
        out[rid] = Series(rid, steps[lo:hi], values[lo:hi], walls[lo:hi] - start)
    return out


def _design_info(exp: Experiment, table: RunTable) -> DesignInfo:
    try:
        return design_info(resolve_spec(ExperimentSpec.model_validate(exp.spec)))
    except (SpecError, ValueError):
        # the catalog changed since the experiment was created: describe what was actually run
        return DesignInfo(
            design=table.design,
            resolution=None,
            resolution_label=None,
            factors=[*table.trick_factors, *table.level_factors],
            trick_factors=table.trick_factors,
            level_factors=table.level_factors,
            generators=[],
            defining_relation=[],
            aliases=[],
            reference=None,
            n_combinations=len(table.cells),
            n_runs=len(table.runs),
            excluded=[],
        )


def get_analysis(
    *,
    db_session: Session,
    experiment_id: int,
    metric: str | None = None,
    target: float | None = None,
    target_key: str | None = None,
) -> AnalysisOut:
    """Summary, effects, interactions, one-at-a-time table, speed and design info of one final metric."""
    exp, table = load_table(db_session=db_session, experiment_id=experiment_id)
    metric = metric or exp.metric
    task = all_tasks().get(exp.task)
    known = set(table.metric_names()) | {exp.metric} | set(task.metrics if task else [])
    if metric not in known:
        raise UnknownKeyError("metric", f"experiment {experiment_id} has no final metric {metric!r}")
    if target is None and metric == exp.metric:
        base_target = (exp.resolved or {}).get("base", {}).get("target")
        target = float(base_target) if isinstance(base_target, int | float) else None
    series = None
    if target is not None:
        target_key = target_key or default_target_key(metric)
        series = load_series(db_session=db_session, experiment_id=experiment_id, key=target_key)
    return analyze(
        experiment_id=exp.id,
        table=table,
        metric=metric,
        design=_design_info(exp, table),
        target=target,
        target_key=target_key,
        series=series,
    )


def get_curves(
    *, db_session: Session, experiment_id: int, key: str, points: int = 200, diff: str | None = None
) -> CurvesOut:
    """Seed-mean bands of curve ``key`` per combination on a common grid, and optionally a trick's paired diff."""
    _, table = load_table(db_session=db_session, experiment_id=experiment_id)
    if diff is not None and diff not in table.trick_factors:
        raise UnknownKeyError("diff", f"{diff!r} is not a trick factor of experiment {experiment_id}")
    series = load_series(db_session=db_session, experiment_id=experiment_id, key=key)
    if not series and key not in SERIES_KEYS:
        raise UnknownKeyError("key", f"experiment {experiment_id} recorded no curve {key!r}")
    cells = table.ordered_cells()
    bands, grid, matrix, row_of = curve_bands(cells, table.runs, series, points)
    diff_out = diff_curve(diff, cells, table.runs, grid, matrix, row_of) if diff is not None else None
    return CurvesOut(key=key, points=points, combinations=bands, diff=diff_out)


def get_export(*, db_session: Session, experiment_id: int, fmt: str, metric: str | None = None) -> tuple[str, str]:
    """The experiment exported as ``fmt`` (csv, json, md, tex): (body, media type)."""
    if fmt not in FORMATS:
        raise UnknownKeyError("format", f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    exp, table = load_table(db_session=db_session, experiment_id=experiment_id)
    if fmt == "csv":
        return to_csv(table), FORMATS[fmt]
    analysis = get_analysis(db_session=db_session, experiment_id=experiment_id, metric=metric)
    title = exp.name
    if fmt == "json":
        body = to_json(experiment={"id": exp.id, "name": exp.name, "spec": exp.spec}, table=table, analysis=analysis)
        return json.dumps(body), FORMATS[fmt]
    if fmt == "md":
        return to_markdown(analysis, title), FORMATS[fmt]
    return to_latex(analysis, title), FORMATS[fmt]
