"""The hook interface tricks plug into.

A trick has one build-time hook, ``configure``, which edits the declarative ``RunOptions``
(model shape, criterion, optimizer, schedule, adversary, GAN objective). Tricks that act
during training (snapshot ensembles) add a ``TrainCallback``, whose three hooks run after each
optimizer step, at checkpoint time and at the end. That is the whole surface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn
from tricklab.catalog.params import ParamValue

from tricklab_worker.engine.options import RunOptions


@dataclass
class FinalContext:
    """What end-of-run metrics may look at: the final model and the test split, on the device."""

    model: nn.Module
    test_inputs: Tensor
    test_targets: Tensor
    probabilities: Callable[[nn.Module, Tensor], Tensor]


class TrainCallback:
    """Acts during training; its state is checkpointed with the run."""

    def on_step_end(self, step: int, model: nn.Module) -> None:
        """Called after optimizer step ``step`` (1-based)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""

    def final_metrics(self, context: FinalContext) -> dict[str, float]:
        return {}


class Trick(ABC):
    """One catalog trick switched on, with its validated parameters."""

    name: ClassVar[str]

    def __init__(self, params: Mapping[str, ParamValue]) -> None:
        self.params = dict(params)

    @abstractmethod
    def configure(self, options: RunOptions) -> None:
        """Edit ``options`` before anything is built; raise ``ConfigError`` with a fix for bad settings."""

    def float_param(self, key: str) -> float:
        value = self.params.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{self.name}.{key} must be a number, got {value!r}")
        return float(value)

    def optional_float(self, key: str) -> float | None:
        return None if self.params.get(key) is None else self.float_param(key)

    def optional_int(self, key: str) -> int | None:
        return None if self.params.get(key) is None else int(self.float_param(key))
