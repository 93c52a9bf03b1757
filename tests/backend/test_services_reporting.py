"""SqlRunReporter: the whole worker lifecycle through the RunReporter protocol."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from tricklab.config import Settings
from tricklab.reporting import MetricPoint, RunReporter
from tricklab.services.metrics import get_series
from tricklab.services.reporting import SqlRunReporter
from tricklab.services.runs import get_run

from tests.backend.store_helpers import RecordingCelery, create_experiment, run_ids


def test_lifecycle(
    session_factory: sessionmaker[Session], db_session: Session, celery_app: RecordingCelery, settings: Settings
) -> None:
    run_id = run_ids(db_session, create_experiment(db_session, celery_app, factors=[], seeds=1))[0]
    reporter: RunReporter = SqlRunReporter(session_factory, settings=settings)
    claimed = reporter.claim(run_id=run_id, attempt=1, worker_id="gpu0")
    assert claimed is not None and claimed.run_id == run_id and claimed.config.seed == 0
    assert claimed.checkpoint_path is not None and claimed.checkpoint_path.startswith(str(settings.artifacts_dir))
    assert reporter.claim(run_id=run_id, attempt=1, worker_id="gpu1") is None
    points = [MetricPoint(key="train_loss", step=s, value=1.0 / (s + 1), wall_time=float(s)) for s in range(10)]
    reporter.log_metrics(run_id=run_id, attempt=1, points=points)
    reporter.log_metrics(run_id=run_id, attempt=1, points=points[5:])
    reporter.log_metrics(run_id=run_id, attempt=7, points=points)  # a stale attempt is ignored quietly
    assert reporter.heartbeat(run_id=run_id, attempt=1, progress=0.5)
    reporter.finish(run_id=run_id, attempt=1, status="succeeded", final_metrics={"test_accuracy": 0.95})
    assert not reporter.heartbeat(run_id=run_id, attempt=1, progress=1.0)
    out = get_run(db_session=db_session, run_id=run_id)
    assert out.status == "succeeded" and out.worker_id == "gpu0"
    assert out.final_metrics == {"test_accuracy": 0.95}
    assert get_series(db_session=db_session, run_id=run_id, key="train_loss").total_points == 10


def test_finish_and_claim_through_the_protocol(
    session_factory: sessionmaker[Session], db_session: Session, celery_app: RecordingCelery, settings: Settings
) -> None:
    first, second = run_ids(db_session, create_experiment(db_session, celery_app, factors=[], seeds=2))
    reporter: RunReporter = SqlRunReporter(session_factory, settings=settings)
    assert reporter.claim(run_id=first, attempt=1, worker_id="gpu0") is not None
    claimed = reporter.finish_and_claim(
        run_id=first,
        attempt=1,
        status="succeeded",
        final_metrics={"test_accuracy": 0.5},
        next_run_id=second,
        next_attempt=1,
        worker_id="gpu0",
    )
    assert claimed is not None and claimed.run_id == second and claimed.config.seed == 1
    assert claimed.checkpoint_path is not None and claimed.checkpoint_path.startswith(str(settings.artifacts_dir))
    assert get_run(db_session=db_session, run_id=first).final_metrics == {"test_accuracy": 0.5}
    assert get_run(db_session=db_session, run_id=second).status == "running"
    # The next run is no longer claimable: the same call for it finds nothing to take.
    assert (
        reporter.finish_and_claim(
            run_id=second,
            attempt=1,
            status="failed",
            final_metrics={},
            next_run_id=second,
            next_attempt=1,
            worker_id="x",
        )
        is None
    )
    assert get_run(db_session=db_session, run_id=second).status == "failed"
