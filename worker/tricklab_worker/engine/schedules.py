"""Base learning-rate schedules (``base.schedule``), pure functions of the 1-based optimizer step.

Being pure functions of the step, they need no state of their own in a checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tricklab_worker.engine.options import ConfigError, LrSchedule


@dataclass(frozen=True)
class ConstantSchedule:
    lr: float

    def __call__(self, step: int) -> float:
        return self.lr


@dataclass(frozen=True)
class CosineSchedule:
    """One cosine decay from ``lr`` to 0 over ``total_steps``."""

    lr: float
    total_steps: int

    def __call__(self, step: int) -> float:
        progress = min(1.0, (step - 1) / max(1, self.total_steps))
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class StepSchedule:
    """``lr`` times 0.1 after 50% and again after 75% of the steps."""

    lr: float
    total_steps: int

    def __call__(self, step: int) -> float:
        decays = sum(step > fraction * self.total_steps for fraction in (0.5, 0.75))
        return self.lr * 0.1**decays


def base_schedule(name: str, lr: float, total_steps: int) -> LrSchedule:
    if name == "constant":
        return ConstantSchedule(lr)
    if name == "cosine":
        return CosineSchedule(lr, total_steps)
    if name == "step":
        return StepSchedule(lr, total_steps)
    raise ConfigError(f"base.schedule={name!r}: use constant, cosine or step")
