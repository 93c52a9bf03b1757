"""The run lease in SQL: claim, heartbeat and finish, each a conditional update.

Celery may deliver a message twice or late; whoever's conditional update matches
wins and everyone else backs off, so a run never trains twice at once.
An attempt number names each try: message (run, n) may only claim a run whose
attempt is n-1, and only while the run is queued or its lease has expired.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, select, update
from sqlalchemy.orm import Session

from tricklab.db.models import Experiment, Run, RunAttempt
from tricklab.db.session import begin_write
from tricklab.db.types import utcnow
from tricklab.reporting import ClaimedRun, TerminalStatus
from tricklab.schemas.run_config import RunConfig
from tricklab.services import lease_statements as statements
from tricklab.services.driver_statements import json_value


def rowcount(result: Any) -> int:
    """Rows matched by an UPDATE (the outcome of a conditional update)."""
    return int(cast(CursorResult[Any], result).rowcount)


def lock_experiment_of_run(db_session: Session, run_id: int) -> None:
    """Lock the run's experiment row before the run's (PostgreSQL): every writer takes experiment, then run.

    Claim, finish, cancel and the reaper all change a run and then refresh its
    experiment's status under a row lock; taken in opposite orders by two of them,
    they deadlocked (found by the API-restart fault test). SQLite has one writer.
    """
    if db_session.get_bind().dialect.name == "sqlite":
        return
    experiment_id = select(Run.experiment_id).where(Run.id == run_id).scalar_subquery()
    db_session.execute(select(Experiment.id).where(Experiment.id == experiment_id).with_for_update())


def checkpoint_path_for(artifacts_dir: Path, run_id: int) -> str:
    """Where a run's checkpoint lives; stable across attempts so a re-dispatched run resumes."""
    return str(artifacts_dir / "runs" / str(run_id) / "checkpoint.pt")


def claim_run(
    *,
    db_session: Session,
    run_id: int,
    attempt: int,
    worker_id: str,
    lease_seconds: float,
    artifacts_dir: Path | None = None,
    now: datetime | None = None,
) -> ClaimedRun | None:
    """Take the lease for ``attempt`` if the run is queued or its lease expired; None when someone else won."""
    begin_write(db_session)
    claimed = _claim(
        db_session,
        run_id=run_id,
        attempt=attempt,
        worker_id=worker_id,
        lease_seconds=lease_seconds,
        artifacts_dir=artifacts_dir,
        now=now or utcnow(),
    )
    if claimed is None:
        db_session.rollback()
        return None
    db_session.commit()
    return claimed[0]


def _claim(
    db_session: Session,
    *,
    run_id: int,
    attempt: int,
    worker_id: str,
    lease_seconds: float,
    artifacts_dir: Path | None,
    now: datetime,
) -> tuple[ClaimedRun, int] | None:
    # The claim's writes inside the caller's transaction, and the run's experiment id; nothing is
    # written when it returns None.
    lock_experiment_of_run(db_session, run_id)
    # Core execution on the session's connection: the ORM's bulk-update plumbing cost more than
    # the statements themselves on SQLite (~0.5 ms per claim and finish, issue 7).
    connection = db_session.connection()
    # One statement takes the lease and reads back what the worker needs: a claim is paid per
    # queued run, so every round trip shows in the queue's throughput (issue 7, bench_queue.py).
    claimed = statements.CLAIM.execute(
        connection,
        {
            "p_run_id": run_id,
            "p_previous_attempt": attempt - 1,
            "p_attempt": attempt,
            "p_worker_id": worker_id,
            "p_now": now,
            "p_lease_until": now + timedelta(seconds=lease_seconds),
            "p_checkpoint_path": checkpoint_path_for(artifacts_dir, run_id) if artifacts_dir is not None else None,
        },
    )
    if claimed is None:
        return None
    experiment_id, config, checkpoint_path = claimed
    if attempt > 1:
        # An earlier attempt whose lease ran out without the reaper noticing yet.
        connection.execute(
            update(RunAttempt)
            .where(RunAttempt.run_id == run_id, RunAttempt.attempt < attempt, RunAttempt.ended_at.is_(None))
            .values(ended_at=now, outcome="lost", reason="lease expired; taken over by a new attempt")
        )
    statements.OPEN_ATTEMPT.execute(
        connection, {"p_run_id": run_id, "p_attempt": attempt, "p_worker_id": worker_id, "p_now": now}
    )
    statements.EXPERIMENT_RUNNING.execute(connection, {"p_experiment_id": experiment_id})
    claimed_run = ClaimedRun(
        run_id=run_id,
        attempt=attempt,
        config=RunConfig.model_validate(json_value(config)),
        checkpoint_path=checkpoint_path,
    )
    return claimed_run, int(experiment_id)


def claimable_runs(
    *, db_session: Session, runs: Sequence[tuple[int, int]], now: datetime | None = None
) -> list[tuple[int, int]]:
    """Of ``runs`` as (run_id, attempt), those whose claim would match right now, in their order.

    A read, not a lease: a worker uses it to drop, in one query, the runs of a message that
    others have taken since it was sent; the claim itself still decides.
    """
    if not runs:
        return []
    now = now or utcnow()
    rows = db_session.execute(
        select(Run.id, Run.attempt, Run.status, Run.lease_expires_at).where(
            Run.id.in_([run_id for run_id, _ in runs]), Run.cancel_requested.is_(False)
        )
    ).all()
    open_attempts = {
        int(run_id): int(attempt)
        for run_id, attempt, status, lease_expires_at in rows
        if status == "queued" or (status == "running" and lease_expires_at is not None and lease_expires_at < now)
    }
    return [(run_id, attempt) for run_id, attempt in runs if open_attempts.get(run_id) == attempt - 1]


def heartbeat_run(
    *,
    db_session: Session,
    run_id: int,
    attempt: int,
    progress: float,
    lease_seconds: float,
    now: datetime | None = None,
) -> bool:
    """Extend this attempt's lease; False when the run was cancelled or another attempt holds it."""
    begin_write(db_session)
    now = now or utcnow()
    result = db_session.execute(
        update(Run)
        .where(Run.id == run_id, Run.attempt == attempt, Run.status == "running", Run.cancel_requested.is_(False))
        .values(
            heartbeat_at=now,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            progress=max(0.0, min(1.0, progress)),
        )
        .execution_options(synchronize_session=False)
    )
    db_session.commit()
    return rowcount(result) == 1


def record_resume(*, db_session: Session, run_id: int, attempt: int, step: int) -> None:
    """Note the checkpoint step an attempt resumed from (shown in the run's attempt history)."""
    begin_write(db_session)
    db_session.execute(
        update(RunAttempt)
        .where(RunAttempt.run_id == run_id, RunAttempt.attempt == attempt)
        .values(resumed_from_step=step)
        .execution_options(synchronize_session=False)
    )
    db_session.commit()


def split_value(value: float) -> tuple[float | None, str | None]:
    """(stored value, non-finite flag): NaN and infinities are stored as NULL plus their kind."""
    if math.isfinite(value):
        return value, None
    if math.isnan(value):
        return None, "nan"
    return None, "inf" if value > 0 else "-inf"


def upsert_final_metrics(db_session: Session, run_id: int, final_metrics: dict[str, float]) -> None:
    """Write final metrics, replacing earlier values of the same key."""
    if not final_metrics:
        return
    rows = []
    for key, value in final_metrics.items():
        stored, flag = split_value(float(value))
        rows.append({"run_id": run_id, "key": key, "value": stored, "non_finite": flag})
    connection = db_session.connection()
    statements.FINAL_METRICS_UPSERT[connection.dialect.name].execute_many(connection, rows)


def finish_run(
    *,
    db_session: Session,
    run_id: int,
    attempt: int,
    status: TerminalStatus,
    final_metrics: dict[str, float],
    error: str | None = None,
    now: datetime | None = None,
) -> bool:
    """End the run with ``status`` if this attempt still holds it; False (and nothing written) otherwise."""
    begin_write(db_session)
    now = now or utcnow()
    experiment_id = _finish(
        db_session, run_id=run_id, attempt=attempt, status=status, final_metrics=final_metrics, error=error, now=now
    )
    if experiment_id is None:
        db_session.rollback()
        return False
    _settle_experiment_after_finish(db_session.connection(), experiment_id, now)
    db_session.commit()
    return True


def finish_and_claim(
    *,
    db_session: Session,
    run_id: int,
    attempt: int,
    status: TerminalStatus,
    final_metrics: dict[str, float],
    error: str | None = None,
    next_run_id: int,
    next_attempt: int,
    worker_id: str,
    lease_seconds: float,
    artifacts_dir: Path | None = None,
    now: datetime | None = None,
) -> tuple[bool, ClaimedRun | None]:
    """``finish_run`` and then ``claim_run`` of the next run, in one transaction; what each returned.

    A worker going through a bundle's runs ends one and takes the next at the same moment: one
    transaction instead of two is a measurable part of a short run's queue cost (issue 7). Either
    part may find nothing to do (a lost lease, a run held elsewhere) without undoing the other.
    """
    begin_write(db_session)
    now = now or utcnow()
    experiment_id = _finish(
        db_session, run_id=run_id, attempt=attempt, status=status, final_metrics=final_metrics, error=error, now=now
    )
    claimed = _claim(
        db_session,
        run_id=next_run_id,
        attempt=next_attempt,
        worker_id=worker_id,
        lease_seconds=lease_seconds,
        artifacts_dir=artifacts_dir,
        now=now,
    )
    # A run of the same experiment just started: the claim has already left it running.
    if experiment_id is not None and (claimed is None or claimed[1] != experiment_id):
        _settle_experiment_after_finish(db_session.connection(), experiment_id, now)
    db_session.commit()
    return experiment_id is not None, None if claimed is None else claimed[0]


def _finish(
    db_session: Session,
    *,
    run_id: int,
    attempt: int,
    status: TerminalStatus,
    final_metrics: dict[str, float],
    error: str | None,
    now: datetime,
) -> int | None:
    # The finish's writes inside the caller's transaction, except settling the experiment's status;
    # the run's experiment id, or None (nothing written) when this attempt no longer holds the run.
    lock_experiment_of_run(db_session, run_id)
    connection = db_session.connection()
    finished = statements.FINISH.execute(
        connection, {"p_run_id": run_id, "p_attempt": attempt, "p_status": status, "p_now": now, "p_error": error}
    )
    if finished is None:
        return None
    experiment_id = finished[0]
    upsert_final_metrics(db_session, run_id, final_metrics)
    statements.CLOSE_ATTEMPT.execute(
        connection,
        {"p_run_id": run_id, "p_attempt": attempt, "p_now": now, "p_outcome": status, "p_reason": error},
    )
    return int(experiment_id)


def _settle_experiment_after_finish(connection: Connection, experiment_id: int, now: datetime) -> None:
    # What refresh_experiment_status concludes once a run has ended, as conditional updates
    # instead of loading the experiment (the row is already locked: lock_experiment_of_run).
    params = {"p_experiment_id": experiment_id}
    if statements.ANY_UNFINISHED_RUN.execute(connection, params) is None:
        statements.EXPERIMENT_FINISHED.execute(connection, {**params, "p_now": now})
    else:
        statements.EXPERIMENT_RUNNING.execute(connection, params)
