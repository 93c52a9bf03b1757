"""The SQL lease: claim is a conditional update, heartbeat extends it, finish needs it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from tricklab.db.models import Experiment, FinalMetric, Run, RunAttempt
from tricklab.db.types import utcnow
from tricklab.services import leases
from tricklab.services.experiments import refresh_experiment_status
from tricklab.services.runs import cancel_run, get_run

from tests.backend.store_helpers import RecordingCelery, create_experiment, run_ids

LEASE = 30.0


def _one_run(db_session: Session, celery_app: RecordingCelery) -> int:
    return run_ids(db_session, create_experiment(db_session, celery_app, factors=[], seeds=1))[0]


def _claim(db_session: Session, run_id: int, attempt: int, worker: str, **kw: object) -> object:
    return leases.claim_run(
        db_session=db_session, run_id=run_id, attempt=attempt, worker_id=worker, lease_seconds=LEASE, **kw
    )


def test_second_claim_loses(db_session: Session, celery_app: RecordingCelery, tmp_path: Path) -> None:
    run_id = _one_run(db_session, celery_app)
    claimed = leases.claim_run(
        db_session=db_session, run_id=run_id, attempt=1, worker_id="w1", lease_seconds=LEASE, artifacts_dir=tmp_path
    )
    assert claimed is not None
    assert claimed.config.task == "digits"
    assert claimed.checkpoint_path == str(tmp_path / "runs" / str(run_id) / "checkpoint.pt")
    assert _claim(db_session, run_id, 1, "w2") is None  # the same message delivered twice
    assert _claim(db_session, run_id, 2, "w2") is None  # a later attempt while the lease is live
    row = db_session.get_one(Run, run_id, populate_existing=True)
    assert (row.status, row.attempt, row.worker_id) == ("running", 1, "w1")
    attempts = db_session.scalars(select(RunAttempt).where(RunAttempt.run_id == run_id)).all()
    assert [(a.attempt, a.worker_id) for a in attempts] == [(1, "w1")]
    out = get_run(db_session=db_session, run_id=run_id)
    assert out.status == "running" and out.attempt == 1 and out.started_at is not None


def test_expired_lease_can_be_taken_over(db_session: Session, celery_app: RecordingCelery) -> None:
    run_id = _one_run(db_session, celery_app)
    assert _claim(db_session, run_id, 1, "w1") is not None
    later = utcnow() + timedelta(seconds=LEASE + 1)
    assert _claim(db_session, run_id, 2, "w2", now=later) is not None
    attempts = db_session.scalars(
        select(RunAttempt).where(RunAttempt.run_id == run_id).order_by(RunAttempt.attempt)
    ).all()
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, "lost"), (2, None)]
    # The old attempt can neither heartbeat nor finish any more.
    assert not leases.heartbeat_run(db_session=db_session, run_id=run_id, attempt=1, progress=0.5, lease_seconds=LEASE)
    assert not leases.finish_run(
        db_session=db_session, run_id=run_id, attempt=1, status="succeeded", final_metrics={"test_accuracy": 0.1}
    )


def test_heartbeat_extends_lease_and_reports_progress(db_session: Session, celery_app: RecordingCelery) -> None:
    run_id = _one_run(db_session, celery_app)
    _claim(db_session, run_id, 1, "w1")
    before = db_session.get_one(Run, run_id, populate_existing=True).lease_expires_at
    assert before is not None
    later = utcnow() + timedelta(seconds=5)
    assert leases.heartbeat_run(
        db_session=db_session, run_id=run_id, attempt=1, progress=0.4, lease_seconds=LEASE, now=later
    )
    row = db_session.get_one(Run, run_id, populate_existing=True)
    assert row.lease_expires_at is not None and row.lease_expires_at > before
    assert row.progress == 0.4


def test_heartbeat_says_stop_after_cancel(db_session: Session, celery_app: RecordingCelery) -> None:
    run_id = _one_run(db_session, celery_app)
    _claim(db_session, run_id, 1, "w1")
    out = cancel_run(db_session=db_session, run_id=run_id)
    assert out.status == "running" and out.cancel_requested
    assert not leases.heartbeat_run(db_session=db_session, run_id=run_id, attempt=1, progress=0.5, lease_seconds=LEASE)
    assert leases.finish_run(
        db_session=db_session, run_id=run_id, attempt=1, status="cancelled", final_metrics={}, error="cancelled"
    )
    assert get_run(db_session=db_session, run_id=run_id).status == "cancelled"


def test_finish_records_metrics_attempt_and_experiment_status(db_session: Session, celery_app: RecordingCelery) -> None:
    run_id = _one_run(db_session, celery_app)
    _claim(db_session, run_id, 1, "w1")
    assert leases.finish_run(
        db_session=db_session,
        run_id=run_id,
        attempt=1,
        status="succeeded",
        final_metrics={"test_accuracy": 0.9, "ece": float("nan")},
    )
    out = get_run(db_session=db_session, run_id=run_id)
    assert out.status == "succeeded" and out.progress == 1.0 and out.finished_at is not None
    assert out.final_metrics == {"test_accuracy": 0.9, "ece": None}
    assert [(a.attempt, a.outcome) for a in out.attempts] == [(1, "succeeded")]
    nan_row = db_session.get_one(FinalMetric, (run_id, "ece"))
    assert nan_row.non_finite == "nan"
    assert out.duration_seconds is not None and out.duration_seconds >= 0
    row = db_session.get_one(Run, run_id)
    assert row.experiment.status == "finished"
    # Finishing twice is refused; a finished run cannot be claimed again.
    assert not leases.finish_run(db_session=db_session, run_id=run_id, attempt=1, status="failed", final_metrics={})
    assert _claim(db_session, run_id, 2, "w2", now=utcnow() + timedelta(hours=1)) is None


def test_cancelled_run_cannot_be_claimed(db_session: Session, celery_app: RecordingCelery) -> None:
    run_id = _one_run(db_session, celery_app)
    assert cancel_run(db_session=db_session, run_id=run_id).status == "cancelled"
    assert _claim(db_session, run_id, 1, "w1") is None


def test_record_resume_step(db_session: Session, celery_app: RecordingCelery) -> None:
    run_id = _one_run(db_session, celery_app)
    _claim(db_session, run_id, 1, "w1")
    leases.record_resume(db_session=db_session, run_id=run_id, attempt=1, step=120)
    assert get_run(db_session=db_session, run_id=run_id).attempts[0].resumed_from_step == 120


def _experiment_state(db_session: Session, experiment_id: int) -> tuple[str, bool]:
    row = db_session.get_one(Experiment, experiment_id, populate_existing=True)
    return row.status, row.finished_at is not None


@pytest.mark.parametrize("experiment_status", ["queued", "running", "finished", "cancelled"])
@pytest.mark.parametrize("others", [(), ("queued",), ("running",), ("succeeded",), ("failed", "running")])
@pytest.mark.parametrize("operation", ["claim", "finish", "finish_and_claim"])
def test_claim_and_finish_leave_the_experiment_as_refresh_would(
    db_session: Session,
    celery_app: RecordingCelery,
    monkeypatch: pytest.MonkeyPatch,
    experiment_status: str,
    others: tuple[str, ...],
    operation: str,
) -> None:
    """The lean status updates of claim and finish against ``refresh_experiment_status`` as the reference."""

    def outcome(reference: bool) -> tuple[str, bool]:
        experiment_id = create_experiment(db_session, celery_app, factors=[], seeds=1 + len(others))
        ids = run_ids(db_session, experiment_id)
        for run_id, status in zip(ids[1:], others, strict=True):
            db_session.execute(update(Run).where(Run.id == run_id).values(status=status))
        if operation != "claim":
            _claim(db_session, ids[0], 1, "w1")
        db_session.execute(update(Experiment).where(Experiment.id == experiment_id).values(status=experiment_status))
        db_session.commit()
        if operation == "claim":
            assert _claim(db_session, ids[0], 1, "w1") is not None
        elif operation == "finish_and_claim":  # the next run only starts if it is queued
            finished, _ = _finish_and_claim(db_session, ids[0], ids[-1])
            assert finished
        else:
            assert leases.finish_run(
                db_session=db_session, run_id=ids[0], attempt=1, status="succeeded", final_metrics={}
            )
        if reference:  # what the status was derived as before: refresh from the state before the update
            db_session.execute(
                update(Experiment)
                .where(Experiment.id == experiment_id)
                .values(status=experiment_status, finished_at=None)
            )
            refresh_experiment_status(db_session, experiment_id)
            db_session.commit()
        return _experiment_state(db_session, experiment_id)

    assert outcome(reference=False) == outcome(reference=True)


def _finish_and_claim(
    db_session: Session, run_id: int, next_run_id: int, *, attempt: int = 1, next_attempt: int = 1
) -> tuple[bool, object]:
    return leases.finish_and_claim(
        db_session=db_session,
        run_id=run_id,
        attempt=attempt,
        status="succeeded",
        final_metrics={"test_accuracy": 0.75},
        next_run_id=next_run_id,
        next_attempt=next_attempt,
        worker_id="w1",
        lease_seconds=LEASE,
    )


def test_finish_and_claim_ends_one_run_and_takes_the_next(db_session: Session, celery_app: RecordingCelery) -> None:
    first, second = run_ids(db_session, create_experiment(db_session, celery_app, factors=[], seeds=2))
    _claim(db_session, first, 1, "w1")
    finished, claimed = _finish_and_claim(db_session, first, second)
    assert finished and claimed is not None
    assert getattr(claimed, "run_id", None) == second and getattr(claimed, "attempt", None) == 1
    done, taken = get_run(db_session=db_session, run_id=first), get_run(db_session=db_session, run_id=second)
    assert (done.status, done.final_metrics, [a.outcome for a in done.attempts]) == (
        "succeeded",
        {"test_accuracy": 0.75},
        ["succeeded"],
    )
    assert (taken.status, taken.attempt, taken.worker_id) == ("running", 1, "w1")
    assert [(a.attempt, a.outcome) for a in taken.attempts] == [(1, None)]
    # One run finished, one running: the experiment runs on (as refresh_experiment_status says).
    assert db_session.get_one(Run, first).experiment.status == "running"
    finished, claimed = _finish_and_claim(db_session, second, first, next_attempt=2)
    assert finished and claimed is None  # the first run has ended: nothing to take
    assert db_session.get_one(Run, second).experiment.status == "finished"


def test_finish_and_claim_keeps_each_part_when_the_other_finds_nothing(
    db_session: Session, celery_app: RecordingCelery
) -> None:
    first, second, third = run_ids(db_session, create_experiment(db_session, celery_app, factors=[], seeds=3))
    _claim(db_session, first, 1, "w1")
    _claim(db_session, second, 1, "w2")
    # The next run is held by another worker: the finish still lands.
    finished, claimed = _finish_and_claim(db_session, first, second)
    assert finished and claimed is None
    assert get_run(db_session=db_session, run_id=first).status == "succeeded"
    assert get_run(db_session=db_session, run_id=second).worker_id == "w2"
    # This attempt lost the run (its finish is refused): the claim of the next one still lands.
    finished, claimed = _finish_and_claim(db_session, first, third)
    assert not finished and claimed is not None
    assert get_run(db_session=db_session, run_id=third).status == "running"
    assert get_run(db_session=db_session, run_id=first).final_metrics == {"test_accuracy": 0.75}


def test_claimable_runs_are_those_a_claim_would_take_now(db_session: Session, celery_app: RecordingCelery) -> None:
    queued, held, expired, ended, cancelled = run_ids(
        db_session, create_experiment(db_session, celery_app, factors=[], seeds=5)
    )
    _claim(db_session, held, 1, "w1")
    _claim(db_session, expired, 1, "w1", now=utcnow() - timedelta(seconds=LEASE + 1))
    _claim(db_session, ended, 1, "w1")
    leases.finish_run(db_session=db_session, run_id=ended, attempt=1, status="succeeded", final_metrics={})
    db_session.execute(update(Run).where(Run.id == cancelled).values(cancel_requested=True))
    db_session.commit()
    asked = [(expired, 2), (queued, 1), (held, 2), (ended, 2), (cancelled, 1), (queued, 2), (10**9, 1)]
    # In the order asked; the attempt must follow the stored one, as the claim's own condition says.
    assert leases.claimable_runs(db_session=db_session, runs=asked) == [(expired, 2), (queued, 1)]
    assert leases.claimable_runs(db_session=db_session, runs=[]) == []
    for run_id, attempt in [(expired, 2), (queued, 1)]:
        assert _claim(db_session, run_id, attempt, "w2") is not None
    assert leases.claimable_runs(db_session=db_session, runs=asked) == []
