"""The task interface (built-in and plugin tasks alike) and loading a task from its catalog entry.

A task is found through ``TaskInfo.implementation`` (``"module:Class"``), so a plugin registered in
the ``tricklab.tasks`` entry point group is loaded exactly like a built-in one.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn
from tricklab.catalog.params import ParamValue
from tricklab.catalog.tasks import TaskInfo, all_tasks

from tricklab_worker.engine.options import ConfigError, ModelOptions


class BaseConfig:
    """Typed read access to a run's resolved base config."""

    def __init__(self, values: Mapping[str, ParamValue]) -> None:
        self.values = dict(values)

    def get_int(self, key: str, default: int | None = None) -> int:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"base.{key} must be an integer, got {value!r}")
        return int(value)

    def get_float(self, key: str, default: float | None = None) -> float:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"base.{key} must be a number, got {value!r}")
        return float(value)

    def get_optional_float(self, key: str) -> float | None:
        return None if self.values.get(key) is None else self.get_float(key)

    def get_str(self, key: str, default: str | None = None) -> str:
        value = self.values.get(key, default)
        if not isinstance(value, str):
            raise ConfigError(f"base.{key} must be a string, got {value!r}")
        return value


@dataclass
class ClassificationData:
    """Train/val/test tensors (inputs, integer targets), small enough to live on the device for the whole run."""

    train_inputs: Tensor
    train_targets: Tensor
    val_inputs: Tensor
    val_targets: Tensor
    test_inputs: Tensor
    test_targets: Tensor
    n_classes: int
    minority_classes: list[int] = field(default_factory=list)
    input_range: tuple[float, float] | None = None

    def to(self, device: torch.device) -> ClassificationData:
        return replace(
            self,
            train_inputs=self.train_inputs.to(device),
            train_targets=self.train_targets.to(device),
            val_inputs=self.val_inputs.to(device),
            val_targets=self.val_targets.to(device),
            test_inputs=self.test_inputs.to(device),
            test_targets=self.test_targets.to(device),
        )


class ClassificationTask(ABC):
    """A dataset plus a model factory. ``build_model`` must honour ``options`` (use ``tricklab_worker.models``)."""

    kind = "classification"

    @abstractmethod
    def load_data(self, base: BaseConfig, seed: int) -> ClassificationData:
        """The split for ``seed``: the same for every combination of an experiment."""

    @abstractmethod
    def build_model(self, base: BaseConfig, options: ModelOptions, data: ClassificationData) -> nn.Module:
        """A fresh model; the engine seeds torch before calling this so seed s shares init across tricks."""


class GanTask(ABC):
    """A data distribution to match, the two networks and how samples are scored."""

    kind = "gan"

    @abstractmethod
    def sample_real(self, base: BaseConfig, n: int, device: torch.device) -> Tensor:
        """``n`` samples of the target distribution (uses torch's global RNG, which checkpoints restore)."""

    @abstractmethod
    def build_generator(self, base: BaseConfig, options: ModelOptions) -> nn.Module: ...

    @abstractmethod
    def build_critic(self, base: BaseConfig, options: ModelOptions) -> nn.Module: ...

    @abstractmethod
    def score(self, base: BaseConfig, samples: Tensor) -> dict[str, float]:
        """Quality metrics of generated samples (e.g. modes_covered, hq_share)."""


Task = ClassificationTask | GanTask


def task_info(name: str) -> TaskInfo:
    tasks = all_tasks()
    if name not in tasks:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(tasks)}")
    return tasks[name]


def load_task(info: TaskInfo) -> Task:
    """Import and instantiate ``info.implementation`` (``module:Class``)."""
    module_name, _, attribute = info.implementation.partition(":")
    if not attribute:
        raise ConfigError(f"task {info.name}: implementation {info.implementation!r} must look like 'module:Class'")
    factory = getattr(importlib.import_module(module_name), attribute)
    task = factory()
    if not isinstance(task, ClassificationTask | GanTask):
        raise ConfigError(f"task {info.name}: {info.implementation} is neither a ClassificationTask nor a GanTask")
    return task
