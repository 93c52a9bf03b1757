"""The reaper: expired leases are re-dispatched up to max_attempts, lost messages are re-sent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from tricklab.config import Settings
from tricklab.db.models import Run
from tricklab.db.types import utcnow
from tricklab.services import leases, reaper
from tricklab.services.runs import cancel_run, get_run

from tests.backend.store_helpers import RecordingCelery, create_experiment, run_ids


def _run(db_session: Session, celery_app: RecordingCelery) -> int:
    run_id = run_ids(db_session, create_experiment(db_session, celery_app, factors=[], seeds=1))[0]
    celery_app.sent.clear()
    return run_id


def _claim(db_session: Session, settings: Settings, run_id: int, attempt: int, now: object = None) -> None:
    claimed = leases.claim_run(
        db_session=db_session,
        run_id=run_id,
        attempt=attempt,
        worker_id=f"w{attempt}",
        lease_seconds=settings.lease_seconds,
        now=now,  # type: ignore[arg-type]
    )
    assert claimed is not None


def test_live_lease_is_left_alone(db_session: Session, celery_app: RecordingCelery, settings: Settings) -> None:
    run_id = _run(db_session, celery_app)
    _claim(db_session, settings, run_id, 1)
    assert reaper.reap(db_session=db_session, settings=settings) == []
    assert db_session.get_one(Run, run_id, populate_existing=True).status == "running"


def test_expired_lease_is_redispatched_then_failed_after_max_attempts(
    db_session: Session, celery_app: RecordingCelery, settings: Settings
) -> None:
    run_id = _run(db_session, celery_app)
    now = utcnow()
    for attempt in range(1, settings.max_attempts + 1):
        _claim(db_session, settings, run_id, attempt, now)
        now += timedelta(seconds=settings.lease_seconds + 1)
        dispatched = reaper.reap(db_session=db_session, settings=settings, now=now)
        row = db_session.get_one(Run, run_id, populate_existing=True)
        if attempt < settings.max_attempts:
            assert dispatched == [(run_id, attempt + 1)]
            assert row.status == "queued" and row.worker_id is None and row.lease_expires_at is None
        else:
            assert dispatched == []
            assert row.status == "failed"
    out = get_run(db_session=db_session, run_id=run_id)
    assert out.attempt == settings.max_attempts
    assert [(a.attempt, a.outcome) for a in out.attempts] == [(1, "lost"), (2, "lost"), (3, "lost")]
    assert out.error is not None and "#1 on w1: lost" in out.error and "#3 on w3" in out.error
    assert db_session.get_one(Run, run_id).experiment.status == "finished"


def test_unclaimed_queued_run_is_redispatched_once_per_period(
    db_session: Session, celery_app: RecordingCelery, settings: Settings
) -> None:
    run_id = _run(db_session, celery_app)
    now = utcnow()
    assert reaper.reap(db_session=db_session, settings=settings, now=now) == []
    later = now + timedelta(seconds=settings.unclaimed_redispatch_seconds + 1)
    assert reaper.reap(db_session=db_session, settings=settings, now=later) == [(run_id, 1)]
    assert reaper.reap(db_session=db_session, settings=settings, now=later + timedelta(seconds=1)) == []


def test_stale_queued_runs_wait_while_the_broker_still_holds_messages(
    db_session: Session, celery_app: RecordingCelery, settings: Settings
) -> None:
    run_id = _run(db_session, celery_app)
    later = utcnow() + timedelta(seconds=settings.unclaimed_redispatch_seconds + 1)
    assert reaper.reap(db_session=db_session, settings=settings, now=later, waiting=lambda: 5) == []
    # The queue drained and the run is still queued: its message was lost.
    assert reaper.reap(db_session=db_session, settings=settings, now=later, waiting=lambda: 0) == [(run_id, 1)]
    later += timedelta(seconds=settings.unclaimed_redispatch_seconds + 1)
    # A broker that cannot say is treated as empty: re-sending is harmless, never sending is not.
    assert reaper.reap(db_session=db_session, settings=settings, now=later, waiting=lambda: None) == [(run_id, 1)]


def test_cancel_requested_run_with_dead_worker_ends_cancelled(
    db_session: Session, celery_app: RecordingCelery, settings: Settings
) -> None:
    run_id = _run(db_session, celery_app)
    _claim(db_session, settings, run_id, 1)
    cancel_run(db_session=db_session, run_id=run_id)
    later = utcnow() + timedelta(seconds=settings.lease_seconds + 1)
    assert reaper.reap(db_session=db_session, settings=settings, now=later) == []
    assert get_run(db_session=db_session, run_id=run_id).status == "cancelled"


def test_reap_once_dispatches_after_commit(
    session_factory: sessionmaker[Session], db_session: Session, celery_app: RecordingCelery, settings: Settings
) -> None:
    run_id = _run(db_session, celery_app)
    _claim(db_session, settings, run_id, 1)
    later = utcnow() + timedelta(seconds=settings.lease_seconds + 1)
    sent = reaper.reap_once(session_factory=session_factory, settings=settings, celery_app=celery_app, now=later)
    assert sent == [(run_id, 2)]
    assert celery_app.dispatched == [(run_id, 2)]
    # The re-dispatched message claims attempt 2; a stale copy of attempt 1 cannot.
    assert leases.claim_run(db_session=db_session, run_id=run_id, attempt=1, worker_id="x", lease_seconds=30) is None
    _claim(db_session, settings, run_id, 2)


def test_interval_is_a_fraction_of_the_lease(settings: Settings) -> None:
    assert 0.2 <= reaper.reaper_interval(settings) <= settings.lease_seconds / 4


def test_expired_leases_wait_while_leases_is_false(
    db_session: Session, celery_app: RecordingCelery, settings: Settings
) -> None:
    # Right after a server start (REST workers could not heartbeat meanwhile) the reaper passes leases=False.
    run_id = _run(db_session, celery_app)
    now = utcnow()
    _claim(db_session, settings, run_id, 1, now)
    later = now + timedelta(seconds=settings.lease_seconds + 1)
    assert reaper.reap(db_session=db_session, settings=settings, now=later, leases=False) == []
    assert db_session.get_one(Run, run_id, populate_existing=True).status == "running"
    out = get_run(db_session=db_session, run_id=run_id)
    assert [(a.attempt, a.outcome) for a in out.attempts] == [(1, None)]
    assert reaper.reap(db_session=db_session, settings=settings, now=later) == [(run_id, 2)]
