"""``RunReporter`` over direct SQL, for workers that reach the database.

Each call is its own short transaction so a worker never holds a lock while it
trains; the REST transport (remote workers) calls the same service functions
through the API.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from tricklab.config import Settings, get_settings
from tricklab.db.session import unit_of_work
from tricklab.reporting import ClaimedRun, MetricPoint, TerminalStatus
from tricklab.services import leases, metrics
from tricklab.services.errors import ConflictError


class SqlRunReporter:
    """The worker side of the run lifecycle against the SQL store."""

    def __init__(self, session_factory: sessionmaker[Session], *, settings: Settings | None = None) -> None:
        self.session_factory = session_factory
        self.settings = settings or get_settings()

    def claim(self, *, run_id: int, attempt: int, worker_id: str) -> ClaimedRun | None:
        """Take the run's lease if it is queued or its lease expired; None if someone else holds it or it ended."""
        with unit_of_work(self.session_factory, write=True) as db_session:
            return leases.claim_run(
                db_session=db_session,
                run_id=run_id,
                attempt=attempt,
                worker_id=worker_id,
                lease_seconds=self.settings.lease_seconds,
                artifacts_dir=self.settings.artifacts_dir,
            )

    def heartbeat(self, *, run_id: int, attempt: int, progress: float) -> bool:
        """Extend the lease; False when the run was cancelled or the lease was lost (stop training)."""
        with unit_of_work(self.session_factory, write=True) as db_session:
            return leases.heartbeat_run(
                db_session=db_session,
                run_id=run_id,
                attempt=attempt,
                progress=progress,
                lease_seconds=self.settings.lease_seconds,
            )

    def record_resume(self, *, run_id: int, attempt: int, step: int) -> None:
        """Note on the attempt, as soon as the checkpoint is loaded, the step it resumed from."""
        with unit_of_work(self.session_factory, write=True) as db_session:
            leases.record_resume(db_session=db_session, run_id=run_id, attempt=attempt, step=step)

    def log_metrics(self, *, run_id: int, attempt: int, points: Sequence[MetricPoint]) -> None:
        """Write a batch of points idempotently on (run, key, step); a superseded attempt's points are dropped."""
        try:
            with unit_of_work(self.session_factory, write=True) as db_session:
                metrics.log_metrics(db_session=db_session, run_id=run_id, attempt=attempt, points=points)
        except ConflictError:
            # Another attempt owns the run now; its own heartbeat tells this worker to stop.
            return

    def finish(
        self,
        *,
        run_id: int,
        attempt: int,
        status: TerminalStatus,
        final_metrics: dict[str, float],
        error: str | None = None,
    ) -> None:
        """End the run (only if this attempt still holds it)."""
        with unit_of_work(self.session_factory, write=True) as db_session:
            leases.finish_run(
                db_session=db_session,
                run_id=run_id,
                attempt=attempt,
                status=status,
                final_metrics=final_metrics,
                error=error,
            )

    def finish_and_claim(
        self,
        *,
        run_id: int,
        attempt: int,
        status: TerminalStatus,
        final_metrics: dict[str, float],
        error: str | None = None,
        next_run_id: int,
        next_attempt: int,
        worker_id: str,
    ) -> ClaimedRun | None:
        """End the run and take the next one's lease in one transaction; the claimed run, or None."""
        with unit_of_work(self.session_factory, write=True) as db_session:
            _, claimed = leases.finish_and_claim(
                db_session=db_session,
                run_id=run_id,
                attempt=attempt,
                status=status,
                final_metrics=final_metrics,
                error=error,
                next_run_id=next_run_id,
                next_attempt=next_attempt,
                worker_id=worker_id,
                lease_seconds=self.settings.lease_seconds,
                artifacts_dir=self.settings.artifacts_dir,
            )
            return claimed

    def claimable(self, *, runs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Of ``runs`` as (run_id, attempt), those a claim could still take, in order (one read)."""
        with self.session_factory() as db_session:
            return leases.claimable_runs(db_session=db_session, runs=runs)
