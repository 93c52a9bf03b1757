"""How a worker talks to the store while it trains one run.

Two transports implement ``RunReporter``: direct SQL (``tricklab.services.reporting``,
for workers that reach the database) and REST (for remote GPU workers holding a
worker token). The engine only sees this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

from tricklab.schemas.run_config import RunConfig

TerminalStatus = Literal["succeeded", "failed", "diverged", "cancelled"]


class MetricPoint(NamedTuple):
    """One recorded value; (run, key, step) is its identity, so re-sending it is harmless.

    A named tuple, not a dataclass: a worker builds one per logged value in the thread that
    runs beside training, where a frozen dataclass cost ~0.9 us each (a named tuple's ``_make``
    0.2-0.3 us), and that thread's work slowed the training thread by several times its own
    CPU time (issue 7, benchmarks/RESULTS.md round 7).
    """

    key: str
    step: int
    value: float
    wall_time: float


@dataclass(frozen=True)
class ClaimedRun:
    """A run this worker now holds the lease of."""

    run_id: int
    attempt: int
    config: RunConfig
    checkpoint_path: str | None


class RunReporter(Protocol):
    """The worker side of the run lifecycle (claim, heartbeat, metrics, finish)."""

    def claim(self, *, run_id: int, attempt: int, worker_id: str) -> ClaimedRun | None:
        """Take the run's lease if it is queued or its lease expired; None if someone else holds it or it ended."""
        ...

    def heartbeat(self, *, run_id: int, attempt: int, progress: float) -> bool:
        """Extend the lease; False when the run was cancelled or the lease was lost (stop training)."""
        ...

    def record_resume(self, *, run_id: int, attempt: int, step: int) -> None:
        """Note on the attempt, as soon as the checkpoint is loaded, the step it resumed from."""
        ...

    def log_metrics(self, *, run_id: int, attempt: int, points: Sequence[MetricPoint]) -> None:
        """Write a batch of points idempotently on (run, key, step)."""
        ...

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
        ...

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
        """``finish`` this run, then ``claim`` the next one (in one transaction where the transport allows)."""
        ...

    def claimable(self, *, runs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Of ``runs`` as (run_id, attempt), those a claim could still take, in order (a hint: the claim decides)."""
        ...
