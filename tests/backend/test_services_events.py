"""Event polling: one snapshot of all runs, then only what changed."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from tricklab.services import leases
from tricklab.services.errors import NotFoundError
from tricklab.services.events import ChangeTracker, poll_experiment

from tests.backend.store_helpers import RecordingCelery, create_experiment, run_ids


def test_tracker_sends_only_changed_runs(db_session: Session, celery_app: RecordingCelery) -> None:
    experiment_id = create_experiment(db_session, celery_app, factors=["label_smoothing"], seeds=1)
    first, second = run_ids(db_session, experiment_id)
    tracker = ChangeTracker()
    state = poll_experiment(db_session=db_session, experiment_id=experiment_id)
    snapshot = tracker.snapshot(state)
    assert [r["id"] for r in snapshot["runs"]] == [first, second]  # type: ignore[index]
    assert tracker.update(poll_experiment(db_session=db_session, experiment_id=experiment_id)) is None
    leases.claim_run(db_session=db_session, run_id=second, attempt=1, worker_id="w", lease_seconds=30)
    update = tracker.update(poll_experiment(db_session=db_session, experiment_id=experiment_id))
    assert update is not None
    assert [(r["id"], r["status"]) for r in update["runs"]] == [(second, "running")]  # type: ignore[index]
    assert update["experiment"]["counts"]["running"] == 1  # type: ignore[index]
    for run_id in (first, second):
        leases.claim_run(db_session=db_session, run_id=run_id, attempt=1, worker_id="w", lease_seconds=30)
        leases.finish_run(db_session=db_session, run_id=run_id, attempt=1, status="succeeded", final_metrics={})
    final = poll_experiment(db_session=db_session, experiment_id=experiment_id)
    assert final.finished and final.experiment.progress == 1.0 and final.experiment.status == "finished"


def test_unknown_experiment(db_session: Session) -> None:
    with pytest.raises(NotFoundError):
        poll_experiment(db_session=db_session, experiment_id=10**9)
