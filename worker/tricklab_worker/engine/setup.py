"""Turning a RunConfig into RunOptions: task facts, base settings, then every trick's ``configure``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from tricklab.catalog.params import ParamValue
from tricklab.catalog.tricks import TRICKS
from tricklab.schemas.run_config import RunConfig

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.engine.options import (
    Activation,
    ConfigError,
    Init,
    LossOptions,
    ModelOptions,
    OptimizerOptions,
    RunOptions,
    Timing,
)
from tricklab_worker.engine.schedules import base_schedule
from tricklab_worker.engine.tasks import BaseConfig


def make_tricks(tricks: Mapping[str, Mapping[str, ParamValue]]) -> list[Trick]:
    """Instantiate each switched-on trick; unknown names and catalog conflicts are rejected with a fix."""
    from tricklab_worker.tricks import TRICK_REGISTRY  # the registry imports engine modules, so import it late

    unknown = sorted(set(tricks) - set(TRICK_REGISTRY))
    if unknown:
        raise ConfigError(f"unknown tricks {unknown}; known: {', '.join(TRICK_REGISTRY)}")
    for name in tricks:
        clashing = sorted(other for other in TRICKS[name].conflicts if other in tricks)
        if clashing:
            raise ConfigError(f"{name} conflicts with {', '.join(clashing)}: switch one of them off")
    return [TRICK_REGISTRY[name](params) for name, params in tricks.items()]


def base_options(
    config: RunConfig,
    base: BaseConfig,
    *,
    kind: str,
    task_input: str,
    timing: Timing,
    n_classes: int,
    minority: list[int],
    input_range: tuple[float, float] | None,
) -> RunOptions:
    """The options of the base config, before any trick."""
    lr = base.get_float("lr", 0.05)
    activation = base.get_str("activation", "tanh")
    init = base.get_str("init", "auto")
    if activation not in ("sigmoid", "tanh", "relu") or init not in ("auto", "default", "xavier", "kaiming"):
        raise ConfigError(f"base.activation={activation!r} / base.init={init!r} are not supported")
    return RunOptions(
        task_name=config.task,
        task_kind=kind,
        task_input=task_input,
        timing=timing,
        n_classes=n_classes,
        minority_classes=minority,
        input_range=input_range,
        model=ModelOptions(activation=cast(Activation, activation), init=cast(Init, init)),
        loss=LossOptions(),
        optimizer=OptimizerOptions(
            name=base.get_str("optimizer", "sgd"),
            lr=lr,
            momentum=base.get_float("momentum", 0.9),
            weight_decay=base.get_float("weight_decay", 0.0),
            betas=(0.5, 0.999) if kind == "gan" else None,
        ),
        schedule=base_schedule(base.get_str("schedule", "constant"), lr, timing.total_steps),
    )


def configure(options: RunOptions, tricks: list[Trick]) -> RunOptions:
    for trick in tricks:
        trick.configure(options)
    return options
