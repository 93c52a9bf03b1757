"""Experiments: preview, create (expand once, insert, commit, then enqueue), list, get, cancel."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, load_only

from tricklab.catalog.params import ParamError
from tricklab.db.models import TERMINAL_RUN_STATUSES, Experiment, Run
from tricklab.db.session import begin_write
from tricklab.db.types import utcnow
from tricklab.design import expand_design
from tricklab.queue import dispatch_bundle, dispatch_run, revoke_runs_of_experiment
from tricklab.schemas.api import (
    CombinationOut,
    ExperimentCreated,
    ExperimentOut,
    Page,
    PreviewOut,
    StatusCounts,
)
from tricklab.schemas.run_config import Combination, RunConfig
from tricklab.schemas.spec import ExperimentSpec, ResolvedSpec, SpecError, resolve_spec
from tricklab.services.errors import ConflictError, NotFoundError
from tricklab.services.teams import default_team_id

log = logging.getLogger(__name__)
# Above this many runs the messages go out after the response (see dispatch_after_commit).
DISPATCH_INLINE_MAX = 256


def _expand(spec: ExperimentSpec) -> tuple[ResolvedSpec, list[Combination], int]:
    """The resolved spec, its design's combinations and the number of runs (combinations x seeds)."""
    resolved = resolve_spec(spec)
    combos = expand_design(resolved)
    if not combos or spec.seeds < 1:
        raise SpecError([ParamError(("factors",), "the design has no valid combination")])
    return resolved, combos, len(combos) * spec.seeds


def _run_rows(
    resolved: ResolvedSpec, combos: list[Combination], experiment_id: int, now: datetime
) -> list[dict[str, Any]]:
    """The runs of ``run_configs(resolved)``, in its order, as insert rows.

    One RunConfig is validated per combination and copied per seed: a 13-factor design has 18k
    runs, and validating and dumping each one took most of the 2 s expansion budget (issue 7).
    """
    rows: list[dict[str, Any]] = []
    for combo in combos:
        config = RunConfig(
            task=resolved.task.name,
            base={**resolved.base, **combo.levels},
            tricks=combo.tricks,
            seed=0,
            metric=resolved.spec.metric,
            combo_key=combo.key,
        ).model_dump(mode="json")
        for seed in range(resolved.spec.seeds):
            rows.append(
                {
                    "experiment_id": experiment_id,
                    "combo_key": config["combo_key"],
                    "tricks": config["tricks"],
                    "levels": combo.levels,
                    "seed": seed,
                    "config": {**config, "seed": seed},
                    "status": "queued",
                    "attempt": 0,
                    "progress": 0.0,
                    "cancel_requested": False,
                    "queued_at": now,
                    # Set before the messages go out: if this process dies before sending,
                    # the reaper re-dispatches these runs once they count as unclaimed.
                    "dispatched_at": now,
                }
            )
    return rows


def _combination_out(combo: Combination) -> CombinationOut:
    return CombinationOut(key=combo.key, tricks=combo.tricks, levels=combo.levels)


def preview_experiment(*, spec: ExperimentSpec) -> PreviewOut:
    """What a spec would launch: its combinations and run count, without touching the store."""
    resolved, combos, n_runs = _expand(spec)
    return PreviewOut(
        n_combinations=len(combos),
        n_runs=n_runs,
        combinations=[_combination_out(c) for c in combos],
        design=spec.design,
        seeds=spec.seeds,
        factors=[f.name for f in resolved.factors],
    )


def create_experiment(
    *,
    db_session: Session,
    spec: ExperimentSpec,
    celery_app: Any,
    public_url: str,
    team_id: int | None = None,
    bundle_runs: int = 1,
) -> ExperimentCreated:
    """Expand the spec into runs in one transaction, commit, then enqueue every run (owned by ``team_id``)."""
    resolved, combos, n_runs = _expand(spec)
    begin_write(db_session)
    if team_id is None:  # scripts and tests that work on the store directly use the default team
        team_id = default_team_id(db_session=db_session)
    now = utcnow()
    experiment = Experiment(
        team_id=team_id,
        name=spec.name,
        task=spec.task,
        spec=spec.model_dump(mode="json"),
        resolved={
            "base": resolved.base,
            "factors": [f.model_dump(mode="json") for f in resolved.factors],
            # Plain dicts of CombinationOut's fields: validating 6k models here cost ~0.3 s.
            "combinations": [{"key": c.key, "tricks": c.tricks, "levels": c.levels} for c in combos],
            "design": spec.design,
        },
        metric=spec.metric,
        direction=resolved.direction,
        status="queued",
        n_runs=n_runs,
        created_at=now,
    )
    db_session.add(experiment)
    db_session.flush()
    rows = _run_rows(resolved, combos, experiment.id, now)
    experiment_id, name = experiment.id, experiment.name
    if len(rows) <= DISPATCH_INLINE_MAX:
        # The ids straight from the insert, in the rows' order: reading them back after the commit
        # cost ~1 ms of the time from a POST to its first run starting (issue 7). Only for small
        # designs: RETURNING goes through multi-row VALUES batches, 0.2 s slower for 18k runs
        # than the driver's executemany.
        run_ids = list(db_session.scalars(insert(Run).returning(Run.id, sort_by_parameter_order=True), rows))
        db_session.commit()
    else:
        db_session.execute(insert(Run), rows)
        db_session.commit()
        run_ids = list(db_session.scalars(select(Run.id).where(Run.experiment_id == experiment_id).order_by(Run.id)))
        db_session.rollback()  # end the read transaction before talking to the broker
    bundles = [
        [(run_id, 1) for run_id in run_ids[start : start + bundle_runs]]
        for start in range(0, len(run_ids), bundle_runs)
    ]
    dispatch_after_commit(celery_app, bundles, experiment_id=experiment_id)
    return ExperimentCreated(
        id=experiment_id,
        name=name,
        n_runs=n_runs,
        url=f"{public_url.rstrip('/')}/#/experiments/{experiment_id}",
    )


def dispatch_after_commit(celery_app: Any, bundles: list[list[tuple[int, int]]], *, experiment_id: int) -> None:
    """Send the messages of an experiment's committed runs: inline for a few, from a background thread for many.

    A broker takes its time per message (the embedded one ~250 messages/s through kombu's ORM,
    ~4,000/s since ``broker_doorbell``'s Core statements; a remote Redis a round trip each), so a
    design with many bundles would hold the request. The runs are already committed
    with ``dispatched_at`` set, so SQL stays the source of truth: if this process dies mid-way, the
    reaper re-sends what was not claimed; a duplicate message is harmless because a claim needs
    the run's lease.
    """
    if len(bundles) <= DISPATCH_INLINE_MAX:
        dispatch_bundles(celery_app, bundles, experiment_id=experiment_id)
        return
    thread = threading.Thread(
        target=dispatch_bundles,
        args=(celery_app, bundles),
        kwargs={"experiment_id": experiment_id},
        name=f"tricklab-dispatch-experiment-{experiment_id}",
    )
    thread.daemon = True  # never hold up shutdown: the reaper covers what is left unsent
    thread.start()


def dispatch_bundles(celery_app: Any, bundles: Iterable[list[tuple[int, int]]], *, experiment_id: int) -> int:
    """Send each bundle of (run_id, attempt) as one message; returns how many went out."""
    sent = 0
    for runs in bundles:
        try:
            dispatch_bundle(celery_app, experiment_id=experiment_id, runs=runs)
            sent += 1
        except Exception:
            log.exception("could not dispatch runs %s..%s; the reaper will retry", runs[0][0], runs[-1][0])
    return sent


def dispatch_all(celery_app: Any, runs: Iterable[tuple[int, int]]) -> int:
    """Send one message per (run_id, attempt); a broker failure is logged and left to the reaper."""
    sent = 0
    for run_id, attempt in runs:
        try:
            dispatch_run(celery_app, run_id=run_id, attempt=attempt)
            sent += 1
        except Exception:
            log.exception("could not dispatch run %s attempt %s; the reaper will retry", run_id, attempt)
    return sent


def status_counts(db_session: Session, experiment_ids: Sequence[int]) -> dict[int, tuple[StatusCounts, float]]:
    """Run counts per status and the summed progress of unfinished runs, per experiment (one query)."""
    out: dict[int, tuple[StatusCounts, float]] = {i: (StatusCounts(), 0.0) for i in experiment_ids}
    if not experiment_ids:
        return out
    rows = db_session.execute(
        select(Run.experiment_id, Run.status, func.count(), func.coalesce(func.sum(Run.progress), 0.0))
        .where(Run.experiment_id.in_(experiment_ids))
        .group_by(Run.experiment_id, Run.status)
    ).all()
    for experiment_id, status, count, progress_sum in rows:
        counts, running_progress = out[experiment_id]
        setattr(counts, status, int(count))
        if status == "running":
            running_progress += float(progress_sum)
        out[experiment_id] = (counts, running_progress)
    return out


def overall_progress(counts: StatusCounts, running_progress: float, n_runs: int) -> float:
    """Finished runs count fully, running runs by their own progress."""
    if n_runs <= 0:
        return 1.0
    done = sum(getattr(counts, s) for s in TERMINAL_RUN_STATUSES)
    return float(max(0.0, min(1.0, (done + running_progress) / n_runs)))


def experiment_out(row: Experiment, counts: StatusCounts, running_progress: float) -> ExperimentOut:
    """Convert a row plus its run counts to the API shape."""
    resolved = row.resolved
    return ExperimentOut(
        id=row.id,
        name=row.name,
        task=row.task,
        status=row.status,
        spec=row.spec,
        created_at=row.created_at,
        finished_at=row.finished_at,
        n_runs=row.n_runs,
        counts=counts,
        progress=overall_progress(counts, running_progress, row.n_runs),
        metric=row.metric,
        direction=row.direction,
        factors=[f["name"] for f in resolved.get("factors", [])],
        combinations=[CombinationOut.model_validate(c) for c in resolved.get("combinations", [])],
        design=resolved.get("design", row.spec.get("design", "full")),
    )


def _get_row(db_session: Session, experiment_id: int) -> Experiment:
    row = db_session.get(Experiment, experiment_id)
    if row is None:
        raise NotFoundError(f"experiment {experiment_id} not found")
    return row


def get_experiment(*, db_session: Session, experiment_id: int) -> ExperimentOut:
    """One experiment with its run counts and progress."""
    row = _get_row(db_session, experiment_id)
    counts, running = status_counts(db_session, [row.id])[row.id]
    return experiment_out(row, counts, running)


def list_experiments(
    *, db_session: Session, offset: int = 0, limit: int = 50, team_id: int | None = None
) -> Page[ExperimentOut]:
    """A page of experiments (of one team when ``team_id`` is given), newest first."""
    where = [] if team_id is None else [Experiment.team_id == team_id]
    total = db_session.scalar(select(func.count()).select_from(Experiment).where(*where)) or 0
    rows = db_session.scalars(
        select(Experiment)
        .where(*where)
        .order_by(Experiment.created_at.desc(), Experiment.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    counts = status_counts(db_session, [r.id for r in rows])
    items = [experiment_out(r, *counts[r.id]) for r in rows]
    return Page[ExperimentOut](items=items, total=total, offset=offset, limit=limit)


def refresh_experiment_status(db_session: Session, experiment_id: int, now: datetime | None = None) -> None:
    """Derive the experiment's status from its runs (call inside the transaction that changed them)."""
    # Locked on PostgreSQL so two finishing runs cannot both see the other still running.
    lock = db_session.get_bind().dialect.name != "sqlite"
    # Only the columns it changes: every claim and finish calls this, and decoding the spec and
    # resolved JSON of an 18,432-run design took ~60 ms each time (issue 7, bench_queue.py).
    columns = load_only(Experiment.status, Experiment.n_runs, Experiment.finished_at)
    row = db_session.get(Experiment, experiment_id, with_for_update=lock, populate_existing=True, options=[columns])
    if row is None:
        return
    # Index seeks on (experiment_id, status) instead of counting every run: a GROUP BY over an
    # 18,432-run experiment took ~10 ms of every claim and finish (issue 7, bench_queue.py).
    all_done = not _has_runs(db_session, experiment_id, ("queued", "running"))
    if row.status != "cancelled":
        if all_done:
            row.status = "finished"
        elif row.status != "running" and _has_runs(db_session, experiment_id, ("running", *TERMINAL_RUN_STATUSES)):
            row.status = "running"
    if all_done and row.finished_at is None:
        row.finished_at = now or utcnow()


def _has_runs(db_session: Session, experiment_id: int, statuses: Sequence[str]) -> bool:
    found = select(Run.id).where(Run.experiment_id == experiment_id, Run.status.in_(statuses)).limit(1)
    return db_session.execute(found).first() is not None


def cancel_experiment(*, db_session: Session, experiment_id: int, celery_app: Any = None) -> ExperimentOut:
    """Cancel queued runs now and ask running ones to stop at their next step check."""
    begin_write(db_session)
    # Lock order: the experiment, then its runs (as claim, finish and the reaper take them).
    db_session.execute(select(Experiment.id).where(Experiment.id == experiment_id).with_for_update())
    row = _get_row(db_session, experiment_id)
    if row.status in ("finished", "cancelled"):
        raise ConflictError(f"experiment {experiment_id} is already {row.status}")
    now = utcnow()
    queued = db_session.execute(
        update(Run)
        .where(Run.experiment_id == experiment_id, Run.status == "queued")
        .values(status="cancelled", finished_at=now, error="cancelled before it started")
        .returning(Run.id, Run.attempt)
    ).all()
    db_session.execute(
        update(Run).where(Run.experiment_id == experiment_id, Run.status == "running").values(cancel_requested=True)
    )
    row.status = "cancelled"
    db_session.flush()
    refresh_experiment_status(db_session, experiment_id, now)
    db_session.commit()
    if celery_app is not None and queued:
        revoke_runs_of_experiment(celery_app, runs=[(run_id, attempt + 1) for run_id, attempt in queued])
    return get_experiment(db_session=db_session, experiment_id=experiment_id)
