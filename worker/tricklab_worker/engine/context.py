"""What the training engine needs from whoever runs it (a Celery task, ``tricklab run``, a test).

The engine never talks to a database or broker: it logs into a ``MetricSink``,
asks a ``RunControl`` whether to stop, and saves/loads checkpoints through a
``CheckpointStore``. The worker's task glues these to a ``RunReporter``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Outcome = Literal["succeeded", "failed", "diverged", "cancelled"]


class MetricSink(Protocol):
    """Receives metric points; implementations buffer and flush in batches, never per step."""

    def log(self, key: str, step: int, value: float) -> None: ...

    def log_many(self, key: str, steps: list[int], values: list[float]) -> None: ...


class RunControl(Protocol):
    """Cooperative cancellation and progress, checked between steps."""

    def should_stop(self) -> bool: ...

    def set_progress(self, fraction: float) -> None: ...


class ResumeListener(Protocol):
    """A ``RunControl`` that also wants to know, at once, the step a run resumed from."""

    def on_resume(self, step: int) -> None: ...


def notify_resume(control: RunControl, step: int) -> None:
    """Tell ``control`` the run resumed from ``step`` (if it listens), before training continues.

    Called when the checkpoint is loaded, not when training ends: an attempt that is
    killed again must still show where it started.
    """
    listener = getattr(control, "on_resume", None)
    if callable(listener):
        listener(step)


@dataclass
class TrainOutcome:
    """How a run ended and its final metrics (names are a contract, see DESIGN.md)."""

    status: Outcome
    final_metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    resumed_from_step: int = 0


@dataclass
class CheckpointStore:
    """Where a run's checkpoints live; one file, replaced atomically."""

    directory: Path
    every_steps: int = 500
    # Called before each save; False skips it. A checkpoint must never get ahead of the
    # metrics already stored: a run resumed from step n re-logs only steps after n, so
    # buffered points up to n that a crash dropped would be missing for good.
    before_save: Callable[[], bool] | None = None

    @property
    def path(self) -> Path:
        return self.directory / "checkpoint.pt"
