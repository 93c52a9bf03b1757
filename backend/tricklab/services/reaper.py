"""The reaper: re-dispatches runs whose lease expired or whose message no worker picked up.

The broker loses messages (SQLAlchemy and filesystem transports on a killed
worker, Redis without persistence), so SQL decides: an expired lease means the
attempt is lost; a queued run nobody claimed for ``unclaimed_redispatch_seconds``
gets its message again once the broker's queue is empty (before that it is a
backlog). After ``max_attempts`` lost attempts the run fails with its attempt
history.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tricklab.config import Settings
from tricklab.db.models import Run, RunAttempt
from tricklab.db.session import begin_write, unit_of_work
from tricklab.db.types import utcnow
from tricklab.queue import waiting_messages
from tricklab.services.experiments import dispatch_all, refresh_experiment_status
from tricklab.services.leases import lock_experiment_of_run, rowcount

log = logging.getLogger(__name__)


def _history(db_session: Session, run_id: int) -> str:
    attempts = db_session.scalars(
        select(RunAttempt).where(RunAttempt.run_id == run_id).order_by(RunAttempt.attempt)
    ).all()
    return "; ".join(
        f"#{a.attempt} on {a.worker_id or '?'}: {a.outcome or 'open'}" + (f" ({a.reason})" if a.reason else "")
        for a in attempts
    )


def _reap_expired(db_session: Session, settings: Settings, now: datetime) -> list[tuple[int, int]]:
    expired = db_session.execute(
        select(Run.id, Run.attempt, Run.cancel_requested, Run.heartbeat_at, Run.experiment_id).where(
            Run.status == "running", Run.lease_expires_at < now
        )
    ).all()
    db_session.commit()
    to_dispatch: list[tuple[int, int]] = []
    # One transaction per run, experiment locked first: a pass over many runs holding
    # one run while waiting for another's experiment deadlocked with claims on PostgreSQL.
    for run_id, attempt, cancel_requested, heartbeat_at, experiment_id in expired:
        begin_write(db_session)
        lock_experiment_of_run(db_session, run_id)
        if cancel_requested:
            values: dict[str, Any] = {"status": "cancelled", "finished_at": now, "error": "cancelled (worker lost)"}
        elif attempt >= settings.max_attempts:
            history = _history(db_session, run_id)
            values = {
                "status": "failed",
                "finished_at": now,
                "error": f"lost {attempt} attempts (max_attempts={settings.max_attempts}): {history}",
            }
        else:
            values = {"status": "queued", "worker_id": None, "dispatched_at": now}
        # Conditional on the attempt we saw: a worker that just heartbeated or another reaper wins.
        result = db_session.execute(
            update(Run)
            .where(Run.id == run_id, Run.attempt == attempt, Run.status == "running", Run.lease_expires_at < now)
            .values(lease_expires_at=None, **values)
            .execution_options(synchronize_session=False)
        )
        if rowcount(result) != 1:
            db_session.rollback()  # the attempt is alive after all: its history stays open
            continue
        reason = f"lease expired (last heartbeat {heartbeat_at.isoformat() if heartbeat_at else 'never'})"
        db_session.execute(
            update(RunAttempt)
            .where(RunAttempt.run_id == run_id, RunAttempt.attempt == attempt, RunAttempt.ended_at.is_(None))
            .values(ended_at=now, outcome="lost", reason=reason)
            .execution_options(synchronize_session=False)
        )
        if values["status"] == "queued":
            to_dispatch.append((run_id, attempt + 1))
        refresh_experiment_status(db_session, experiment_id, now)
        db_session.commit()
    return to_dispatch


def _reap_unclaimed(
    db_session: Session, settings: Settings, now: datetime, waiting: Callable[[], int | None] | None
) -> list[tuple[int, int]]:
    cutoff = now - timedelta(seconds=settings.unclaimed_redispatch_seconds)
    stale = db_session.execute(
        select(Run.id, Run.attempt, Run.dispatched_at).where(
            Run.status == "queued", Run.cancel_requested.is_(False), Run.dispatched_at < cutoff
        )
    ).all()
    if stale and waiting is not None and (waiting() or 0) > 0:
        # A backlog, not a loss: the broker still holds messages, so the queued runs are waiting
        # their turn. Re-sending them every period would bury the workers in duplicates that each
        # cost a delivery (an 18k-run experiment, re-sent every 2 minutes). Once the queue is
        # empty, whatever is still queued in SQL has lost its message and is re-sent.
        return []
    to_dispatch: list[tuple[int, int]] = []
    for run_id, attempt, dispatched_at in stale:
        result = db_session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == "queued", Run.dispatched_at == dispatched_at)
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(result) == 1:
            to_dispatch.append((run_id, attempt + 1))
    return to_dispatch


def reap(
    *,
    db_session: Session,
    settings: Settings,
    now: datetime | None = None,
    leases: bool = True,
    waiting: Callable[[], int | None] | None = None,
) -> list[tuple[int, int]]:
    """Settle expired leases (unless ``leases`` is False) and stale queued runs; commit, return the messages to send.

    ``waiting()`` counts the messages still in the broker (None: unknown); while there are any,
    stale queued runs count as a backlog and are not re-sent.
    """
    begin_write(db_session)
    now = now or utcnow()
    to_dispatch = _reap_expired(db_session, settings, now) if leases else []
    begin_write(db_session)
    to_dispatch += _reap_unclaimed(db_session, settings, now, waiting)
    db_session.commit()
    return to_dispatch


def reap_once(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    celery_app: Any,
    now: datetime | None = None,
    leases: bool = True,
) -> list[tuple[int, int]]:
    """One reaper pass: settle in SQL, commit, then dispatch."""
    with unit_of_work(session_factory, write=True) as db_session:
        to_dispatch = reap(
            db_session=db_session,
            settings=settings,
            now=now,
            leases=leases,
            waiting=lambda: waiting_messages(celery_app),
        )
    dispatch_all(celery_app, to_dispatch)
    return to_dispatch


def reaper_interval(settings: Settings) -> float:
    """Often enough to notice an expired lease well within one lease period."""
    return max(0.2, min(5.0, settings.lease_seconds / 4, settings.unclaimed_redispatch_seconds / 4))


async def run_reaper(*, session_factory: sessionmaker[Session], settings: Settings, celery_app: Any) -> None:
    """Reap forever (until cancelled); a failed pass is logged and retried on the next tick."""
    interval = reaper_interval(settings)
    # Workers reporting over REST could not heartbeat while this server was down: give them
    # one lease period to get through before their leases count as lost (each lost attempt
    # costs a resume and counts toward max_attempts).
    grace_until = time.monotonic() + settings.lease_seconds
    while True:
        try:
            await asyncio.to_thread(
                reap_once,
                session_factory=session_factory,
                settings=settings,
                celery_app=celery_app,
                leases=time.monotonic() >= grace_until,
            )
        except Exception:
            log.exception("reaper pass failed")
        await asyncio.sleep(interval)
