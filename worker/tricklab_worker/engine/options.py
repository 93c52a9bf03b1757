"""The declarative settings a run is built from, which tricks edit before training starts.

Every trick's ``configure`` hook edits one ``RunOptions``; the engine then builds the model,
criterion, optimizer and schedule from it. Tricks touch disjoint fields (or fields with a
documented precedence), so the order in which they are applied does not matter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from tricklab_worker.engine.hooks import TrainCallback

Activation = Literal["sigmoid", "tanh", "relu"]
Norm = Literal["none", "batch", "group"]
Init = Literal["auto", "default", "xavier", "kaiming"]
Criterion = Callable[[Tensor, Tensor], Tensor]


class ConfigError(ValueError):
    """A setting that cannot train; the message says how to fix it. Raised before training starts."""


@dataclass
class ModelOptions:
    """How the model builder shapes hidden layers."""

    activation: Activation = "tanh"
    init: Init = "auto"
    norm: Norm = "none"
    norm_groups: int = 4
    norm_momentum: float = 0.1
    dropout: float = 0.0
    residual: bool = False

    @property
    def resolved_init(self) -> Literal["default", "xavier", "kaiming"]:
        """auto follows the activation: Kaiming for ReLU, Xavier for sigmoid/tanh."""
        if self.init != "auto":
            return self.init
        return "kaiming" if self.activation == "relu" else "xavier"


@dataclass
class LossOptions:
    """The classification criterion: smoothed targets inside an optional focal term, then flooding."""

    label_smoothing: float = 0.0
    focal_gamma: float | None = None
    focal_alpha: list[float] | None = None
    flood_level: float | None = None


@dataclass
class OptimizerOptions:
    """Which optimizer to build. ``pinned`` marks a choice made by the radam trick, which wins over wgan's default."""

    name: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    betas: tuple[float, float] | None = None
    pinned: bool = False


class LrSchedule(Protocol):
    """The learning rate used at optimizer step ``step`` (1-based)."""

    def __call__(self, step: int) -> float: ...


@dataclass(frozen=True)
class Timing:
    """How long the run is, so tricks can turn epochs into steps."""

    steps_per_epoch: int
    total_steps: int


class Adversary(Protocol):
    """Produces a perturbed copy of the attack surface (inputs or embeddings) that raises the loss."""

    def perturb(
        self, head: Callable[[Tensor], Tensor], features: Tensor, targets: Tensor, criterion: Criterion
    ) -> Tensor: ...


@dataclass
class AdversarialOptions:
    """Training on clean + weight * adversarial loss."""

    adversary: Adversary
    weight: float = 1.0


class GanObjective(Protocol):
    """The critic/discriminator and generator losses of a GAN, plus what happens after each critic step."""

    n_critic: int

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor: ...

    def generator_loss(self, critic: nn.Module, fake: Tensor) -> Tensor: ...

    def after_critic_step(self, critic: nn.Module) -> None: ...


@dataclass
class RunOptions:
    """Everything tricks may change; the task facts (name, kind, input, timing, classes, input range) are read-only."""

    task_name: str
    task_kind: str
    task_input: str
    timing: Timing
    n_classes: int
    minority_classes: list[int]
    input_range: tuple[float, float] | None
    model: ModelOptions
    loss: LossOptions
    optimizer: OptimizerOptions
    schedule: LrSchedule
    lr_multipliers: list[Callable[[int], float]] = field(default_factory=list)
    adversarial: AdversarialOptions | None = None
    gan_objective: GanObjective | None = None
    callbacks: list[TrainCallback] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def lr_at(self, step: int) -> float:
        """The schedule's value times every multiplier (warmup) at ``step``."""
        lr = self.schedule(step)
        for multiplier in self.lr_multipliers:
            lr *= multiplier(step)
        return lr


def build_optimizer(options: OptimizerOptions, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``options`` names, with its lr and weight decay."""
    lr, wd = options.lr, options.weight_decay
    if options.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=options.momentum, weight_decay=wd)
    if options.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    betas = options.betas or (0.9, 0.999)
    if options.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=wd)
    if options.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=wd)
    if options.name == "radam":
        return torch.optim.RAdam(params, lr=lr, betas=betas, weight_decay=wd)
    raise ConfigError(f"unknown optimizer {options.name!r}: use sgd, adam, adamw, rmsprop or radam")
