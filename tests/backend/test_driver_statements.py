"""Core statements run through the driver's cursor: the same rows as Core would write, on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from tricklab.db.models import Experiment, Run, RunAttempt
from tricklab.services.driver_statements import DriverStatement, json_value

from tests.backend.store_helpers import RecordingCelery, create_experiment, run_ids

STAMP = datetime(2026, 12, 3, 17, 4, 5, 123456, tzinfo=UTC)

SET_HEARTBEAT = DriverStatement(
    update(Run)
    .where(Run.id == bindparam("p_run_id"))
    .values(heartbeat_at=bindparam("p_now", type_=Run.heartbeat_at.type), worker_id="driver")
    .returning(Run.id, Run.config)
)
RUNNING_UNLESS_CANCELLED = DriverStatement(
    update(Experiment)
    .where(Experiment.id == bindparam("p_id"), Experiment.status.not_in(("running", "cancelled")))
    .values(status="running")
)
OPEN_ATTEMPT = DriverStatement(
    insert(RunAttempt).values(
        run_id=bindparam("p_run_id"),
        attempt=bindparam("p_attempt"),
        worker_id="driver",
        started_at=bindparam("p_now", type_=RunAttempt.started_at.type),
    )
)


def _runs(db_session: Session, celery_app: RecordingCelery) -> tuple[int, list[int]]:
    experiment_id = create_experiment(db_session, celery_app, factors=["relu"], seeds=1)
    return experiment_id, run_ids(db_session, experiment_id)


def test_a_timestamp_reads_back_as_core_would_have_written_it(db_session: Session, celery_app: RecordingCelery) -> None:
    _, (through_driver, through_core) = _runs(db_session, celery_app)
    connection = db_session.connection()
    returned = SET_HEARTBEAT.execute(connection, {"p_run_id": through_driver, "p_now": STAMP})
    connection.execute(update(Run).where(Run.id == through_core).values(heartbeat_at=STAMP, worker_id="core"))
    assert returned is not None and returned[0] == through_driver
    assert json_value(returned[1])["task"] == "digits"  # RETURNING comes back raw: decoded by the caller
    rows = {run.id: run for run in db_session.scalars(select(Run), execution_options={"populate_existing": True})}
    assert rows[through_driver].heartbeat_at == rows[through_core].heartbeat_at == STAMP
    # The stored form is the same too, so the lease's comparisons order both alike.
    earlier, later = STAMP - timedelta(microseconds=1), STAMP + timedelta(microseconds=1)
    for bound, expected in ((earlier, {through_driver, through_core}), (later, set())):
        newer = db_session.scalars(select(Run.id).where(Run.heartbeat_at > bound)).all()
        assert set(newer) == expected


def test_a_statement_that_matches_nothing_returns_none(db_session: Session, celery_app: RecordingCelery) -> None:
    _runs(db_session, celery_app)
    assert SET_HEARTBEAT.execute(db_session.connection(), {"p_run_id": -1, "p_now": STAMP}) is None


@pytest.mark.parametrize(("status", "after"), [("queued", "running"), ("cancelled", "cancelled")])
def test_an_in_list_fixed_by_the_statement_is_expanded(
    db_session: Session, celery_app: RecordingCelery, status: str, after: str
) -> None:
    experiment_id, _ = _runs(db_session, celery_app)
    connection = db_session.connection()
    connection.execute(update(Experiment).where(Experiment.id == experiment_id).values(status=status))
    assert RUNNING_UNLESS_CANCELLED.execute(connection, {"p_id": experiment_id}) is None
    assert db_session.scalar(select(Experiment.status).where(Experiment.id == experiment_id)) == after


def test_execute_many_writes_every_parameter_set(db_session: Session, celery_app: RecordingCelery) -> None:
    _, runs = _runs(db_session, celery_app)
    rows = [{"p_run_id": run_id, "p_attempt": 7, "p_now": STAMP} for run_id in runs]
    OPEN_ATTEMPT.execute_many(db_session.connection(), rows)
    written = db_session.execute(
        select(RunAttempt.run_id, RunAttempt.worker_id, RunAttempt.started_at).where(RunAttempt.attempt == 7)
    ).all()
    assert sorted(written) == [(run_id, "driver", STAMP) for run_id in runs]


def test_a_missing_parameter_is_named_before_anything_runs(db_session: Session, celery_app: RecordingCelery) -> None:
    _, runs = _runs(db_session, celery_app)
    with pytest.raises(KeyError, match="p_now"):
        SET_HEARTBEAT.execute(db_session.connection(), {"p_run_id": runs[0]})
    assert db_session.scalar(select(Run.worker_id).where(Run.id == runs[0])) is None


def test_json_value_decodes_text_and_passes_decoded_values_through() -> None:
    assert json_value('{"a": [1, 2]}') == {"a": [1, 2]}
    assert json_value(b"[1]") == [1]
    assert json_value({"a": 1}) == {"a": 1}
    assert json_value(None) is None
