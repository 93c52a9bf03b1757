"""Runs as the API shows them: get, list and cancel."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tricklab.db.models import TERMINAL_RUN_STATUSES, Experiment, FinalMetric, Run, RunAttempt
from tricklab.db.session import begin_write
from tricklab.db.types import utcnow
from tricklab.queue import revoke_run
from tricklab.schemas.api import AttemptOut, Page, RunOut
from tricklab.schemas.run_config import RunConfig
from tricklab.services.errors import ConflictError, NotFoundError
from tricklab.services.experiments import refresh_experiment_status
from tricklab.services.leases import lock_experiment_of_run


def run_outs(db_session: Session, rows: Sequence[Run]) -> list[RunOut]:
    """Convert rows to RunOut, fetching attempts and final metrics of all of them in two queries."""
    ids = [r.id for r in rows]
    attempts: dict[int, list[AttemptOut]] = defaultdict(list)
    finals: dict[int, dict[str, float | None]] = defaultdict(dict)
    if ids:
        for a in db_session.scalars(
            select(RunAttempt).where(RunAttempt.run_id.in_(ids)).order_by(RunAttempt.run_id, RunAttempt.attempt)
        ):
            attempts[a.run_id].append(
                AttemptOut(
                    attempt=a.attempt,
                    worker_id=a.worker_id,
                    started_at=a.started_at,
                    ended_at=a.ended_at,
                    outcome=a.outcome,
                    reason=a.reason,
                    resumed_from_step=a.resumed_from_step,
                )
            )
        for m in db_session.scalars(select(FinalMetric).where(FinalMetric.run_id.in_(ids))):
            finals[m.run_id][m.key] = m.value
    now = utcnow()
    out = []
    for r in rows:
        duration = None
        if r.started_at is not None:
            duration = ((r.finished_at or now) - r.started_at).total_seconds()
        out.append(
            RunOut(
                id=r.id,
                experiment_id=r.experiment_id,
                combo_key=r.combo_key,
                tricks=r.tricks,
                levels=r.levels,
                seed=r.seed,
                status=r.status,
                attempt=r.attempt,
                worker_id=r.worker_id,
                config=RunConfig.model_validate(r.config),
                queued_at=r.queued_at,
                started_at=r.started_at,
                finished_at=r.finished_at,
                heartbeat_at=r.heartbeat_at,
                duration_seconds=duration,
                progress=r.progress,
                error=r.error,
                cancel_requested=r.cancel_requested,
                final_metrics=dict(finals[r.id]),
                attempts=attempts[r.id],
            )
        )
    return out


def get_run_row(db_session: Session, run_id: int) -> Run:
    """The run row, or NotFoundError."""
    row = db_session.get(Run, run_id)
    if row is None:
        raise NotFoundError(f"run {run_id} not found")
    return row


def get_run(*, db_session: Session, run_id: int) -> RunOut:
    """One run with its attempts and final metrics."""
    return run_outs(db_session, [get_run_row(db_session, run_id)])[0]


def list_runs(
    *, db_session: Session, experiment_id: int, status: str | None = None, offset: int = 0, limit: int = 50
) -> Page[RunOut]:
    """A page of an experiment's runs in creation order, optionally of one status."""
    if db_session.get(Experiment, experiment_id) is None:
        raise NotFoundError(f"experiment {experiment_id} not found")
    where = [Run.experiment_id == experiment_id]
    if status:
        where.append(Run.status == status)
    total = db_session.scalar(select(func.count()).select_from(Run).where(*where)) or 0
    rows = db_session.scalars(select(Run).where(*where).order_by(Run.id).offset(offset).limit(limit)).all()
    return Page[RunOut](items=run_outs(db_session, rows), total=total, offset=offset, limit=limit)


def cancel_run(*, db_session: Session, run_id: int, celery_app: Any = None) -> RunOut:
    """A queued run is cancelled at once; a running one is asked to stop at its next step check."""
    begin_write(db_session)
    lock_experiment_of_run(db_session, run_id)  # lock order: experiment, then run
    row = get_run_row(db_session, run_id)
    if row.status in TERMINAL_RUN_STATUSES:
        raise ConflictError(f"run {run_id} is already {row.status}")
    now = utcnow()
    # Conditional on the status just read: a worker may claim the run in between on PostgreSQL.
    cancelled = db_session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "queued")
        .values(status="cancelled", finished_at=now, error="cancelled before it started")
        .execution_options(synchronize_session="fetch")
    )
    if getattr(cancelled, "rowcount", 0) != 1:
        db_session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == "running")
            .values(cancel_requested=True)
            .execution_options(synchronize_session="fetch")
        )
    refresh_experiment_status(db_session, row.experiment_id, now)
    db_session.commit()
    db_session.refresh(row)
    if celery_app is not None and getattr(cancelled, "rowcount", 0) == 1:
        # Its message (attempt + 1) still waits in the broker; the failed claim would drop it too.
        revoke_run(celery_app, run_id=run_id, attempts=[row.attempt + 1])
    return run_outs(db_session, [row])[0]
