"""What the training engine needs from whoever runs it (a Celery task, ``tricklab run``, a test).

The engine never talks to a database or broker: it logs into a ``MetricSink``,
asks a ``RunControl`` whether to stop, and saves/loads checkpoints through a
``CheckpointStore``. The worker's task glues these to a ``RunReporter``.
"""

from __future__ import annotations

import time
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
    # An epoch end saves only when the last save is at least this old. A save is a synchronous
    # metric flush plus torch.save (~6 ms for a small MLP); one at every end of an 18-step digits
    # epoch made a queued run ~50% slower (issue 7, benchmarks/bench_queue.py).
    epoch_end_seconds: float = 10.0
    last_saved: float = field(default_factory=time.monotonic, init=False, repr=False)

    @property
    def path(self) -> Path:
        return self.directory / "checkpoint.pt"

    def due(self, step: int, *, epoch_end: bool, final: bool) -> bool:
        """Save after ``step``: every ``every_steps`` steps, at old-enough epoch ends, never at the last step."""
        if final:
            # The run ends right after it; a crash before the end resumes from the previous save.
            return False
        if step % self.every_steps == 0:
            return True
        return epoch_end and time.monotonic() - self.last_saved >= self.epoch_end_seconds
