"""Loading an experiment's run table and metric series from SQL for the analysis routes."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tricklab.analysis.curves import bands_on_grid, curve_bands, diff_curve
from tricklab.analysis.report import analyze, default_target_key
from tricklab.analysis.schemas import AnalysisOut, CurvesOut, DesignInfo
from tricklab.analysis.table import Cell, RunRecord, RunTable
from tricklab.catalog.tasks import all_tasks
from tricklab.db.models import Experiment
from tricklab.design import design_info
from tricklab.export import FORMATS, to_csv, to_json, to_latex, to_markdown
from tricklab.schemas.spec import ExperimentSpec, SpecError, resolve_spec
from tricklab.services import payload_cache
from tricklab.services.curve_grid import NON_FINITE, load_grid, load_series
from tricklab.services.driver_rows import driver_rows
from tricklab.services.errors import NotFoundError
from tricklab.services.payload_cache import CACHE, Payload

# Curves every run records (DESIGN.md metric contract): asking for one before any run logged it is not an error.
SERIES_KEYS = frozenset({"train_loss", "lr", "grad_norm", "val_loss", "val_accuracy"})


# The columns a run record needs, not whole rows: decoding every run's config JSON took ~0.2 s for 1,024 runs.
_RECORDS_SQL = (
    "SELECT id, combo_key, tricks, levels, seed, status, started_at, finished_at, error FROM runs"
    " WHERE experiment_id = {0} ORDER BY id"
)
_FINALS_SQL = (
    "SELECT f.run_id, f.key, f.value, f.non_finite FROM final_metrics f JOIN runs r ON r.id = f.run_id"
    " WHERE r.experiment_id = {0}"
)


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


def _time(raw: datetime | str) -> datetime:
    # SQLite keeps naive UTC text (UTCDateTime); PostgreSQL's driver returns aware datetimes
    return datetime.fromisoformat(raw) if isinstance(raw, str) else raw


def _seconds_between(started: datetime | str | None, finished: datetime | str | None) -> float | None:
    if started is None or finished is None:
        return None
    return (_time(finished) - _time(started)).total_seconds()


def load_table(*, db_session: Session, experiment_id: int, final_metrics: bool = True) -> tuple[Experiment, RunTable]:
    """The experiment row and its run table with every final metric (non-finite values as NaN/inf), or none."""
    exp = _experiment(db_session, experiment_id)
    resolved = exp.resolved or {}
    factors = resolved.get("factors", [])
    tricks = [f["name"] for f in factors if f.get("kind") == "trick"]
    levels = {f["name"]: list(f["levels"]) for f in factors if f.get("kind") == "level"}
    metrics: dict[int, dict[str, float]] = defaultdict(dict)
    finals = driver_rows(db_session, _FINALS_SQL, (experiment_id,)) if final_metrics else []
    for run_id, key, val, non_finite in finals:
        metrics[run_id][key] = NON_FINITE[non_finite] if non_finite else (math.nan if val is None else float(val))
    # The driver's rows, JSON decoded once per distinct text: the runs of a combination share their
    # tricks and levels, and SQLAlchemy's per-row JSON and time processing took ~40 ms per 1,024 runs (issue 7).
    decoded: dict[str, Any] = {}

    def _json(raw: Any) -> Any:
        if not isinstance(raw, str):
            return raw  # PostgreSQL's driver already decoded the JSONB
        if raw not in decoded:
            decoded[raw] = json.loads(raw)
        return decoded[raw]

    runs = [
        RunRecord(
            run_id=run_id,
            combo_key=combo_key,
            tricks=tuple(_json(tricks) or {}),
            levels=dict(_json(levels) or {}),
            seed=seed,
            status=status,
            metrics=metrics.get(run_id, {}),
            duration_seconds=_seconds_between(started, finished),
            error=error,
        )
        for run_id, combo_key, tricks, levels, seed, status, started, finished, error in driver_rows(
            db_session, _RECORDS_SQL, (experiment_id,)
        )
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


def _target(
    exp: Experiment, metric: str, target: float | None, target_key: str | None
) -> tuple[float | None, str | None]:
    """The target (the spec's own for its primary metric) and the curve searched for it; (None, None) without one."""
    if target is None and metric == exp.metric:
        base_target = (exp.resolved or {}).get("base", {}).get("target")
        target = float(base_target) if isinstance(base_target, int | float) else None
    if target is None:
        return None, None
    return target, target_key or default_target_key(metric)


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
    target, target_key = _target(exp, metric, target, target_key)
    series = None
    if target is not None and target_key is not None:
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
    # curves never read final metrics (nor does their cache fingerprint)
    _, table = load_table(db_session=db_session, experiment_id=experiment_id, final_metrics=False)
    if diff is not None and diff not in table.trick_factors:
        raise UnknownKeyError("diff", f"{diff!r} is not a trick factor of experiment {experiment_id}")
    cells = table.ordered_cells()
    # a large experiment's curves come from the rollups (~64 rows per run), a small one's from its points
    on_grid = load_grid(db_session=db_session, experiment_id=experiment_id, key=key, points=points)
    if on_grid is not None:
        grid, matrix, row_of = on_grid.grid, on_grid.matrix, on_grid.row_of
        bands = bands_on_grid(cells, table.runs, grid, matrix, row_of)
    else:
        series = load_series(db_session=db_session, experiment_id=experiment_id, key=key)
        if not series and key not in SERIES_KEYS:
            raise UnknownKeyError("key", f"experiment {experiment_id} recorded no curve {key!r}")
        bands, grid, matrix, row_of = curve_bands(cells, table.runs, series, points)
    diff_out = diff_curve(diff, cells, table.runs, grid, matrix, row_of) if diff is not None else None
    return CurvesOut(key=key, points=points, combinations=bands, diff=diff_out)


def _lookup(
    kind: str, experiment_id: int, params: tuple[Any, ...], fp: bytes, if_none_match: str | None
) -> tuple[str, Payload | None]:
    """The payload's ETag, and the answer when the client's copy or the cache already holds this state."""
    etag = payload_cache.make_etag(kind, experiment_id, params, fp)
    if payload_cache.etag_matches(if_none_match, etag):
        return etag, Payload(etag=etag, body=None)
    body = CACHE.get((kind, experiment_id, params), etag)
    return etag, Payload(etag=etag, body=body) if body is not None else None


def curves_json(
    *,
    db_session: Session,
    experiment_id: int,
    key: str,
    points: int = 200,
    diff: str | None = None,
    if_none_match: str | None = None,
) -> Payload:
    """``get_curves`` as JSON bytes with an ETag, computed once per state of the experiment (per process)."""
    fp = payload_cache.fingerprint(
        db_session=db_session, experiment_id=experiment_id, curve_keys=[key], final_metrics=False
    )
    params = (key, points, diff)
    etag, hit = _lookup("curves", experiment_id, params, fp, if_none_match)
    if hit is not None:
        return hit
    out = get_curves(db_session=db_session, experiment_id=experiment_id, key=key, points=points, diff=diff)
    body = out.model_dump_json().encode()
    CACHE.put(("curves", experiment_id, params), etag, body)
    return Payload(etag=etag, body=body)


def analysis_json(
    *,
    db_session: Session,
    experiment_id: int,
    metric: str | None = None,
    target: float | None = None,
    target_key: str | None = None,
    if_none_match: str | None = None,
) -> Payload:
    """``get_analysis`` as JSON bytes with an ETag, computed once per state of the experiment (per process)."""
    exp = _experiment(db_session, experiment_id)
    _, curve_key = _target(exp, metric or exp.metric, target, target_key)
    fp = payload_cache.fingerprint(
        db_session=db_session,
        experiment_id=experiment_id,
        curve_keys=[curve_key] if curve_key is not None else [],
        final_metrics=True,
    )
    params = (metric, target, target_key)
    etag, hit = _lookup("analysis", experiment_id, params, fp, if_none_match)
    if hit is not None:
        return hit
    out = get_analysis(
        db_session=db_session, experiment_id=experiment_id, metric=metric, target=target, target_key=target_key
    )
    body = out.model_dump_json().encode()
    CACHE.put(("analysis", experiment_id, params), etag, body)
    return Payload(etag=etag, body=body)


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
