"""The statements of a claim and a finish, built once with bound parameters.

Every queued run pays one claim and one finish; building and cache-keying these statements
per call cost as much as running them on SQLite (~0.2 ms each), and so did executing them
through SQLAlchemy: they run through the driver's cursor (``driver_statements``), a
measurable share of the queue's per-run cost (issue 7, benchmarks/bench_queue.py).
Parameter names differ from the column names because SQLAlchemy reserves those in SET clauses.
"""

from __future__ import annotations

from sqlalchemy import String, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tricklab.db.models import Experiment, FinalMetric, Run, RunAttempt
from tricklab.services.driver_statements import DriverStatement

_now = bindparam("p_now", type_=Run.heartbeat_at.type)

CLAIM = DriverStatement(
    update(Run)
    .where(
        Run.id == bindparam("p_run_id"),
        Run.attempt == bindparam("p_previous_attempt"),
        Run.cancel_requested.is_(False),
        or_(Run.status == "queued", and_(Run.status == "running", Run.lease_expires_at < _now)),
    )
    .values(
        status="running",
        attempt=bindparam("p_attempt"),
        worker_id=bindparam("p_worker_id"),
        heartbeat_at=_now,
        lease_expires_at=bindparam("p_lease_until", type_=Run.lease_expires_at.type),
        started_at=func.coalesce(Run.started_at, _now),
        error=None,
        # NULL when the caller names no artifacts directory: the stored path stays as it is.
        checkpoint_path=func.coalesce(Run.checkpoint_path, bindparam("p_checkpoint_path", type_=String)),
    )
    .returning(Run.experiment_id, Run.config, Run.checkpoint_path)
)

OPEN_ATTEMPT = DriverStatement(
    insert(RunAttempt).values(
        run_id=bindparam("p_run_id"),
        attempt=bindparam("p_attempt"),
        worker_id=bindparam("p_worker_id"),
        started_at=_now,
    )
)

# What refresh_experiment_status concludes with a run running: not finished, and running
# unless cancelled; one conditional update instead of its reads.
EXPERIMENT_RUNNING = DriverStatement(
    update(Experiment)
    .where(Experiment.id == bindparam("p_experiment_id"), Experiment.status.not_in(("running", "cancelled")))
    .values(status="running")
)

EXPERIMENT_FINISHED = DriverStatement(
    update(Experiment)
    .where(Experiment.id == bindparam("p_experiment_id"))
    .values(
        status=case((Experiment.status == "cancelled", Experiment.status), else_="finished"),
        finished_at=func.coalesce(Experiment.finished_at, bindparam("p_now", type_=Experiment.finished_at.type)),
    )
)

ANY_UNFINISHED_RUN = DriverStatement(
    select(Run.id)
    .where(Run.experiment_id == bindparam("p_experiment_id"), Run.status.in_(("queued", "running")))
    .limit(1)
)

CLOSE_ATTEMPT = DriverStatement(
    update(RunAttempt)
    .where(RunAttempt.run_id == bindparam("p_run_id"), RunAttempt.attempt == bindparam("p_attempt"))
    .values(
        ended_at=bindparam("p_now", type_=RunAttempt.ended_at.type),
        outcome=bindparam("p_outcome"),
        reason=bindparam("p_reason"),
    )
)

FINISH = DriverStatement(
    update(Run)
    .where(Run.id == bindparam("p_run_id"), Run.attempt == bindparam("p_attempt"), Run.status == "running")
    .values(
        status=bindparam("p_status", type_=String),
        finished_at=bindparam("p_now", type_=Run.finished_at.type),
        error=bindparam("p_error", type_=String),
        lease_expires_at=None,
        progress=case((bindparam("p_status", type_=String) == "succeeded", 1.0), else_=Run.progress),
    )
    .returning(Run.experiment_id)
)


def _final_metrics_upsert(insert_fn: type[sqlite.Insert] | type[postgresql.Insert]) -> DriverStatement:
    stmt = insert_fn(FinalMetric)
    return DriverStatement(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={"value": stmt.excluded.value, "non_finite": stmt.excluded.non_finite},
        )
    )


# Final metrics replace earlier values of the same key (a resumed or re-finished run).
FINAL_METRICS_UPSERT = {
    "sqlite": _final_metrics_upsert(sqlite.Insert),
    "postgresql": _final_metrics_upsert(postgresql.Insert),
}
