"""Cyclic cosine LR with warm restarts (the seed's formula) and the snapshot ensemble it promises."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from tricklab_worker.engine.hooks import FinalContext, TrainCallback, Trick
from tricklab_worker.engine.options import RunOptions


def cyclic_cosine_lr(step: int, *, lr_max: float, lr_min: float, cycle: int) -> float:
    """The seed's ``((LR_INIT - LR_MIN) / 2) * (cos(pi * ((x - 1) mod CYCLE) / CYCLE) + 1) + LR_MIN`` at step x >= 1."""
    return (lr_max - lr_min) / 2 * (math.cos(math.pi * ((step - 1) % cycle) / cycle) + 1) + lr_min


@dataclass(frozen=True)
class CyclicCosineSchedule:
    lr_max: float
    lr_min: float
    cycle: int

    def __call__(self, step: int) -> float:
        return cyclic_cosine_lr(step, lr_max=self.lr_max, lr_min=self.lr_min, cycle=self.cycle)


def ensemble_probabilities(
    model: nn.Module, snapshots: list[dict[str, Tensor]], inputs: Tensor, probabilities: Any
) -> Tensor:
    """The snapshots' softmax outputs averaged (each snapshot loaded into a copy of ``model``)."""
    member = copy.deepcopy(model)
    total: Tensor | None = None
    for state in snapshots:
        member.load_state_dict(state)
        probs: Tensor = probabilities(member, inputs)
        total = probs if total is None else total + probs
    assert total is not None
    return total / len(snapshots)


class SnapshotEnsemble(TrainCallback):
    """Keeps the model at the end of every cycle (the last ``keep`` ones, 0 = all) and scores their average."""

    def __init__(self, *, cycle: int, keep: int = 0) -> None:
        self.cycle = cycle
        self.keep = keep
        self.snapshots: list[dict[str, Tensor]] = []

    def on_step_end(self, step: int, model: nn.Module) -> None:
        if step % self.cycle:
            return
        self.snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        if self.keep and len(self.snapshots) > self.keep:
            self.snapshots.pop(0)

    def state_dict(self) -> dict[str, Any]:
        return {"snapshots": self.snapshots}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.snapshots = list(state["snapshots"])

    def final_metrics(self, context: FinalContext) -> dict[str, float]:
        # A run shorter than one cycle has no snapshot: its ensemble is the final model alone.
        members = self.snapshots or [{k: v.detach().clone() for k, v in context.model.state_dict().items()}]
        with torch.no_grad():
            probs = ensemble_probabilities(context.model, members, context.test_inputs, context.probabilities)
        accuracy = (probs.argmax(dim=1) == context.test_targets).float().mean()
        return {"snapshot_ensemble_accuracy": float(accuracy.item()), "snapshot_ensemble_members": float(len(members))}


class CyclicLR(Trick):
    """Replaces the base schedule; warmup (a multiplier) still applies on top."""

    name = "cyclic_lr"

    def configure(self, options: RunOptions) -> None:
        cycle_steps = self.optional_int("cycle_steps")
        if cycle_steps is None:
            cycle_steps = max(1, round(self.float_param("cycle_epochs") * options.timing.steps_per_epoch))
        options.schedule = CyclicCosineSchedule(
            lr_max=options.optimizer.lr, lr_min=self.float_param("lr_min"), cycle=cycle_steps
        )
        options.callbacks.append(SnapshotEnsemble(cycle=cycle_steps, keep=self.optional_int("snapshots") or 0))
