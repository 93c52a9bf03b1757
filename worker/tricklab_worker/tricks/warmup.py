"""Linear warmup: a multiplier t / warmup_steps on whatever schedule is in place (base or cyclic)."""

from __future__ import annotations

from dataclasses import dataclass

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.engine.options import RunOptions


def linear_warmup_factor(step: int, warmup_steps: int) -> float:
    """``min(1, step / warmup_steps)`` for the 1-based step: the seed's ``lr * global_step / warmup_steps``."""
    return min(1.0, step / warmup_steps)


@dataclass(frozen=True)
class LinearWarmup:
    warmup_steps: int

    def __call__(self, step: int) -> float:
        return linear_warmup_factor(step, self.warmup_steps)


class Warmup(Trick):
    name = "warmup"

    def configure(self, options: RunOptions) -> None:
        steps = self.optional_int("steps")
        if steps is None:
            steps = max(1, round(self.float_param("epochs") * options.timing.steps_per_epoch))
        options.lr_multipliers.append(LinearWarmup(steps))
