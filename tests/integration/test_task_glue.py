"""The Celery task's body against a real SQLite store and the real engine, in-process.

The multi-process tests show the whole path works; these pin the task's own
promises: metrics arrive in batches, a stale or duplicate delivery does nothing,
and a run that raises ends ``failed`` with its reason while the caller goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from tricklab.config import Settings
from tricklab.db.migrate import upgrade
from tricklab.db.models import MetricPoint as MetricRow
from tricklab.db.models import Run
from tricklab.db.session import make_engine, make_session_factory
from tricklab.queue import make_celery
from tricklab.reporting import ClaimedRun, MetricPoint
from tricklab.schemas.spec import ExperimentSpec
from tricklab.services.experiments import create_experiment
from tricklab.services.reporting import SqlRunReporter
from tricklab_worker.tasks import LeaseChain, execute_train_run

from tests.integration.processes import tiny_spec

pytestmark = [
    pytest.mark.slow,
    # The store fixture dispatches through the embedded broker, whose kombu models use lazy="noload"
    # (deprecated in SQLAlchemy 2.1). Raised as an error here, it left kombu's mappers broken for
    # every later test in the session (tests/backend/test_queue.py failed when run after this module).
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]


class CountingReporter(SqlRunReporter):
    """The real SQL reporter, counting how often the worker writes metrics."""

    metric_batches: list[int]
    claims: list[int]

    def claim(self, *, run_id: int, attempt: int, worker_id: str) -> ClaimedRun | None:
        self.claims.append(run_id)
        return super().claim(run_id=run_id, attempt=attempt, worker_id=worker_id)

    def log_metrics(self, *, run_id: int, attempt: int, points: Sequence[MetricPoint]) -> None:
        self.metric_batches.append(len(points))
        super().log_metrics(run_id=run_id, attempt=attempt, points=points)


@pytest.fixture
def store(tmp_path: Path) -> tuple[Settings, CountingReporter, list[int]]:
    settings = Settings(data_dir=tmp_path, metrics_flush_seconds=5.0, metrics_flush_points=100_000)
    upgrade(settings.resolved_database_url)
    session_factory = make_session_factory(make_engine(settings.resolved_database_url))
    with session_factory() as db_session:
        created = create_experiment(
            db_session=db_session,
            spec=ExperimentSpec.model_validate(tiny_spec("glue", factors=["relu"], seeds=1, epochs=2)),
            celery_app=make_celery(settings),  # messages wait in the embedded broker; nothing consumes them
            public_url="http://test",
        )
        run_ids = list(db_session.scalars(select(Run.id).where(Run.experiment_id == created.id).order_by(Run.id)))
    reporter = CountingReporter(session_factory, settings=settings)
    reporter.metric_batches = []
    reporter.claims = []
    return settings, reporter, run_ids


def test_a_run_is_trained_once_with_metrics_in_batches(store: tuple[Settings, CountingReporter, list[int]]) -> None:
    settings, reporter, run_ids = store
    status = execute_train_run(reporter=reporter, settings=settings, run_id=run_ids[0], attempt=1, worker_id="w:1")
    assert status == "succeeded"
    with reporter.session_factory() as db_session:
        run = db_session.get(Run, run_ids[0])
        assert run is not None and run.status == "succeeded" and run.worker_id == "w:1"
        stored = db_session.scalar(select(func.count()).select_from(MetricRow).where(MetricRow.run_id == run_ids[0]))
    assert stored == sum(reporter.metric_batches) > 0
    # Two epochs of steps, but the flush interval outlasts the run: one write at the end.
    assert len(reporter.metric_batches) <= 2, reporter.metric_batches
    # Shorter than checkpoint_seconds: no checkpoint, so not even an empty directory per run.
    assert not (settings.artifacts_dir / "runs" / str(run_ids[0])).exists()

    # A redelivered message for the same attempt, or a stale one, finds the run finished.
    again = execute_train_run(reporter=reporter, settings=settings, run_id=run_ids[0], attempt=1, worker_id="w:2")
    assert again is None
    assert (
        execute_train_run(reporter=reporter, settings=settings, run_id=run_ids[0], attempt=2, worker_id="w:2") is None
    )


def test_a_run_that_raises_ends_failed_with_its_reason(store: tuple[Settings, CountingReporter, list[int]]) -> None:
    settings, reporter, run_ids = store
    with reporter.session_factory() as db_session:
        run = db_session.get(Run, run_ids[1])
        assert run is not None
        broken = {**run.config, "task": "no_such_task"}
        db_session.execute(update(Run).where(Run.id == run_ids[1]).values(config=broken))
        db_session.commit()
    status = execute_train_run(reporter=reporter, settings=settings, run_id=run_ids[1], attempt=1, worker_id="w:1")
    assert status == "failed"
    with reporter.session_factory() as db_session:
        run = db_session.get(Run, run_ids[1])
        assert run is not None and run.status == "failed"
        assert run.error and ": " in run.error and run.error.split(":")[0].isidentifier()
    # The same process trains the next run normally.
    assert execute_train_run(reporter=reporter, settings=settings, run_id=run_ids[0], attempt=1, worker_id="w:1") == (
        "succeeded"
    )


def test_a_chain_claims_each_next_run_with_the_previous_finish(
    store: tuple[Settings, CountingReporter, list[int]],
) -> None:
    settings, reporter, run_ids = store
    chain = LeaseChain(reporter=reporter, settings=settings, worker_id="w:1")
    first, second = run_ids
    assert chain.train(first, 1, lambda: (second, 1)) == "succeeded"
    assert chain.train(second, 1) == "succeeded"
    assert reporter.claims == [first]  # the second run's lease came with the first one's finish
    with reporter.session_factory() as db_session:
        done = {run.id: run for run in db_session.scalars(select(Run).where(Run.id.in_(run_ids)))}
        assert {run.status for run in done.values()} == {"succeeded"}
        # One transaction: the same moment ends one run and starts the next.
        assert done[first].finished_at == done[second].started_at
        assert done[second].experiment.status == "finished"


def test_a_chain_skips_a_next_run_it_could_not_claim_without_asking_again(
    store: tuple[Settings, CountingReporter, list[int]],
) -> None:
    settings, reporter, run_ids = store
    first, second = run_ids
    assert reporter.claim(run_id=second, attempt=1, worker_id="elsewhere:9") is not None
    chain = LeaseChain(reporter=reporter, settings=settings, worker_id="w:1")
    assert chain.train(first, 1, lambda: (second, 1)) == "succeeded"
    assert chain.train(second, 1) is None
    assert reporter.claims == [second, first]
    with reporter.session_factory() as db_session:
        run = db_session.get(Run, second)
        assert run is not None and (run.status, run.worker_id) == ("running", "elsewhere:9")
