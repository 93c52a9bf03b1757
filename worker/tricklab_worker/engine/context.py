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
    """Where a run's checkpoints live; one file, replaced atomically.

    Saved by time, not by step count: what a checkpoint bounds is the training a crash can lose
    (``seconds``), and a save is a synchronous metric flush plus ``torch.save``, ~6 ms for a small MLP.
    Every 500 steps of a 1 ms-step model was three saves per 1.8 s digits run, 3% of a queued run
    (issue 7, benchmarks/bench_queue.py --epochs 100); a 1 s-step model waited 8 minutes between saves.
    ``every_steps`` adds a save every that many steps, for those who want saves at fixed steps.
    """

    directory: Path
    every_steps: int | None = None
    # A save at the first step this long after the last one (or after the start).
    seconds: float = 30.0
    # Called before each save; False skips it. A checkpoint must never get ahead of the
    # metrics already stored: a run resumed from step n re-logs only steps after n, so
    # buffered points up to n that a crash dropped would be missing for good.
    before_save: Callable[[], bool] | None = None
    # An epoch end, a natural place to save, saves once the last save is at least this old.
    epoch_end_seconds: float = 10.0
    last_saved: float = field(default_factory=time.monotonic, init=False, repr=False)

    @property
    def path(self) -> Path:
        return self.directory / "checkpoint.pt"

    def due(self, step: int, *, epoch_end: bool, final: bool) -> bool:
        """Save after ``step``: ``seconds`` after the last save, at old-enough epoch ends, every ``every_steps``.

        Never at the last step: the run ends right after it, and a crash before the end resumes
        from the previous save.
        """
        if final:
            return False
        if self.every_steps and step % self.every_steps == 0:
            return True
        age = time.monotonic() - self.last_saved
        return age >= self.seconds or (epoch_end and age >= self.epoch_end_seconds)
