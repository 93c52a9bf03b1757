"""Experiment service: expansion into runs, enqueue after commit, counts, cancel."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from tricklab.db.models import Run
from tricklab.schemas.spec import ExperimentSpec, SpecError
from tricklab.services import experiments
from tricklab.services.errors import ConflictError, NotFoundError

from tests.backend.store_helpers import SPEC, RecordingCelery, create_experiment, run_ids


def test_preview_counts_exclude_conflicts() -> None:
    preview = experiments.preview_experiment(spec=ExperimentSpec.model_validate(SPEC))
    # 2^4 combinations minus the 4 with batch_norm and group_norm both on.
    assert preview.n_combinations == 12
    assert preview.n_runs == 24
    assert all(not {"batch_norm", "group_norm"} <= set(c.tricks) for c in preview.combinations)
    assert preview.factors == ["label_smoothing", "warmup", "batch_norm", "group_norm"]


def test_create_inserts_unique_runs_and_dispatches_after_commit(
    db_session: Session, celery_app: RecordingCelery
) -> None:
    seen_in_transaction: list[bool] = []
    celery_app.on_send = lambda _name, _args: seen_in_transaction.append(db_session.in_transaction())
    experiment_id = create_experiment(db_session, celery_app)
    ids = run_ids(db_session, experiment_id)
    assert len(ids) == 24
    assert sorted(celery_app.dispatched) == [(i, 1) for i in ids]
    assert {name for name, _ in celery_app.sent} == {"tricklab.train_run"}
    assert seen_in_transaction and not any(seen_in_transaction)
    keys = db_session.execute(select(Run.combo_key, Run.seed).where(Run.experiment_id == experiment_id)).all()
    assert len(set(keys)) == 24


@pytest.mark.parametrize(("bundle_runs", "sizes"), [(5, [5, 5, 5, 5, 4]), (23, [23, 1]), (64, [24])])
def test_runs_go_out_in_bundles_of_consecutive_runs(
    db_session: Session, celery_app: RecordingCelery, bundle_runs: int, sizes: list[int]
) -> None:
    spec = ExperimentSpec.model_validate(SPEC)
    created = experiments.create_experiment(
        db_session=db_session, spec=spec, celery_app=celery_app, public_url="http://t", bundle_runs=bundle_runs
    )
    ids = run_ids(db_session, created.id)
    assert [len(args[1]) if name == "tricklab.train_runs" else 1 for name, args in celery_app.sent] == sizes
    # A bundle names its experiment; a lone remainder is a plain run message.
    assert all(args[0] == created.id for name, args in celery_app.sent if name == "tricklab.train_runs")
    assert celery_app.dispatched == [(i, 1) for i in ids]


@pytest.mark.parametrize("seeds", [2, 22])  # 24 runs take their ids from the insert, 264 read them back
def test_the_messages_name_every_stored_run_in_the_expansion_order(
    db_session: Session, celery_app: RecordingCelery, seeds: int
) -> None:
    spec = ExperimentSpec.model_validate({**SPEC, "seeds": seeds})
    created = experiments.create_experiment(
        db_session=db_session, spec=spec, celery_app=celery_app, public_url="http://t", bundle_runs=64
    )
    assert created.n_runs == 12 * seeds and (created.n_runs > experiments.DISPATCH_INLINE_MAX) == (seeds == 22)
    stored = db_session.execute(
        select(Run.id, Run.combo_key, Run.seed).where(Run.experiment_id == created.id).order_by(Run.id)
    ).all()
    assert celery_app.dispatched == [(run_id, 1) for run_id, _, _ in stored]
    # Consecutive seeds of one combination, combination after combination: what bundles keep together.
    assert [seed for _, _, seed in stored] == list(range(seeds)) * 12
    assert len({combo for _, combo, _ in stored}) == 12


def test_unique_constraint_on_combination_and_seed(db_session: Session, celery_app: RecordingCelery) -> None:
    experiment_id = create_experiment(db_session, celery_app, factors=["label_smoothing"], seeds=1)
    row = db_session.scalars(select(Run).where(Run.experiment_id == experiment_id)).first()
    assert row is not None
    db_session.add(
        Run(experiment_id=experiment_id, combo_key=row.combo_key, tricks={}, levels={}, seed=row.seed, config={})
    )
    with pytest.raises(IntegrityError):
        db_session.flush()
    db_session.rollback()


def test_spec_errors_are_raised_before_anything_is_stored(db_session: Session, celery_app: RecordingCelery) -> None:
    before = db_session.scalar(select(func.count()).select_from(Run))
    with pytest.raises(SpecError) as info:
        create_experiment(db_session, celery_app, factors=["no_such_trick"])
    assert info.value.errors[0].loc == ("factors", 0)
    assert db_session.scalar(select(func.count()).select_from(Run)) == before
    assert celery_app.sent == []


def test_get_and_list_report_counts_and_progress(db_session: Session, celery_app: RecordingCelery) -> None:
    first = create_experiment(db_session, celery_app, factors=["label_smoothing"], seeds=2)
    second = create_experiment(db_session, celery_app, name="second", factors=[], seeds=1)
    out = experiments.get_experiment(db_session=db_session, experiment_id=first)
    assert out.status == "queued"
    assert out.counts.queued == 4
    assert out.progress == 0.0
    assert [c.key for c in out.combinations] == ["base", "label_smoothing"]
    page = experiments.list_experiments(db_session=db_session, offset=0, limit=1)
    assert page.total >= 2
    assert [e.id for e in page.items] == [second]
    with pytest.raises(NotFoundError):
        experiments.get_experiment(db_session=db_session, experiment_id=999_999)


def test_cancel_cancels_queued_runs_and_flags_running_ones(db_session: Session, celery_app: RecordingCelery) -> None:
    experiment_id = create_experiment(db_session, celery_app, factors=["label_smoothing"], seeds=1)
    first, _second = run_ids(db_session, experiment_id)
    db_session.get_one(Run, first).status = "running"
    db_session.commit()
    out = experiments.cancel_experiment(db_session=db_session, experiment_id=experiment_id)
    assert out.status == "cancelled"
    assert out.counts.cancelled == 1
    assert out.counts.running == 1
    assert db_session.get_one(Run, first).cancel_requested is True
    with pytest.raises(ConflictError):
        experiments.cancel_experiment(db_session=db_session, experiment_id=experiment_id)


def test_broker_failure_is_left_to_the_reaper(db_session: Session) -> None:
    class DownBroker:
        def send_task(self, *_a: object, **_kw: object) -> None:
            raise ConnectionError("broker down")

    experiment_id = create_experiment(db_session, DownBroker(), factors=[], seeds=1)  # type: ignore[arg-type]
    assert len(run_ids(db_session, experiment_id)) == 1


@pytest.mark.parametrize(
    ("run_statuses", "before", "after"),
    [
        (["queued", "queued", "queued"], "queued", "queued"),
        (["running", "queued", "queued"], "queued", "running"),
        (["succeeded", "queued", "queued"], "queued", "running"),
        (["succeeded", "failed", "running"], "running", "running"),
        (["succeeded", "diverged", "cancelled"], "running", "finished"),
        (["succeeded", "succeeded", "succeeded"], "queued", "finished"),
        (["queued", "queued", "queued"], "running", "running"),  # re-queued by the reaper: not back to queued
        (["succeeded", "queued", "succeeded"], "finished", "running"),  # a run queued again reopens it
        (["succeeded", "succeeded", "succeeded"], "cancelled", "cancelled"),
    ],
)
def test_refresh_derives_the_status_from_the_runs(
    db_session: Session, celery_app: RecordingCelery, run_statuses: list[str], before: str, after: str
) -> None:
    from sqlalchemy import delete, update
    from tricklab.db.models import Experiment

    experiment_id = create_experiment(db_session, celery_app, factors=["label_smoothing"], seeds=3)
    ids = db_session.scalars(select(Run.id).where(Run.experiment_id == experiment_id).order_by(Run.id).limit(3)).all()
    # exactly the three runs of the case
    db_session.execute(delete(Run).where(Run.experiment_id == experiment_id, Run.id.not_in(ids)))
    for run_id, status in zip(ids, run_statuses, strict=True):
        db_session.execute(update(Run).where(Run.id == run_id).values(status=status))
    db_session.execute(
        update(Experiment).where(Experiment.id == experiment_id).values(status=before, finished_at=None, n_runs=3)
    )
    experiments.refresh_experiment_status(db_session, experiment_id)
    row = db_session.get(Experiment, experiment_id)
    assert row is not None and row.status == after
    assert (row.finished_at is not None) == all(
        s in ("succeeded", "failed", "diverged", "cancelled") for s in run_statuses
    )
