"""``train_run``: build a run from its RunConfig (task, base config, tricks) and train it."""

from __future__ import annotations

import torch
from tricklab.schemas.run_config import RunConfig

from tricklab_worker.engine.classification import ClassificationRun, train_classification
from tricklab_worker.engine.context import CheckpointStore, MetricSink, RunControl, TrainOutcome
from tricklab_worker.engine.gan import GanRun, train_gan
from tricklab_worker.engine.options import ConfigError, Timing
from tricklab_worker.engine.setup import base_options, configure, make_tricks
from tricklab_worker.engine.tasks import BaseConfig, ClassificationTask, load_task, task_info
from tricklab_worker.models.classifier import Classifier, InputClassifier


def seed_everything(seed: int, device: torch.device) -> None:
    """Seed the global RNGs and ``device``'s; model init happens right after, so seed s shares init across tricks.

    The same states as ``torch.manual_seed``, without its seed call queued for every accelerator module
    not yet initialised: each formats the caller's whole stack, ~0.1 ms here and more under Celery's.
    """
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)
    if device.type != "cpu":
        accelerator = getattr(torch, device.type)
        getattr(accelerator, "manual_seed_all", accelerator.manual_seed)(seed)


def prepare_classification(
    config: RunConfig, task: ClassificationTask, device: torch.device, *, task_input: str, amp: bool = False
) -> ClassificationRun:
    """Load data onto the device, configure the tricks and build the model: every setting is checked here."""
    base = BaseConfig(config.base)
    data = task.load_data(base, config.seed).to(device)
    n_train = int(data.train_targets.shape[0])
    steps_per_epoch = max(1, n_train // base.get_int("batch_size", 64))
    total = base.get_int("epochs", 10) * steps_per_epoch
    if base.get_int("max_steps", 0):
        total = min(total, base.get_int("max_steps", 0))
    options = base_options(
        config,
        base,
        kind="classification",
        task_input=task_input,
        timing=Timing(steps_per_epoch, total),
        n_classes=data.n_classes,
        minority=data.minority_classes,
        input_range=data.input_range,
    )
    configure(options, make_tricks(config.tricks))
    if options.gan_objective is not None:
        raise ConfigError(f"wgan applies only to GAN tasks; task {config.task} is a classification task")
    seed_everything(config.seed, device)
    module = task.build_model(base, options.model, data)
    model = module if isinstance(module, Classifier) else InputClassifier(module)
    return ClassificationRun(config, base, options, data, model.to(device), device, amp)


def prepare_gan(config: RunConfig, task: object, device: torch.device, *, task_input: str) -> GanRun:
    from tricklab_worker.engine.tasks import GanTask

    assert isinstance(task, GanTask)
    base = BaseConfig(config.base)
    total = base.get_int("generator_steps", 2000) * base.get_int("epochs", 1)
    if base.get_int("max_steps", 0):
        total = min(total, base.get_int("max_steps", 0))
    options = base_options(
        config,
        base,
        kind="gan",
        task_input=task_input,
        timing=Timing(total, total),
        n_classes=0,
        minority=[],
        input_range=None,
    )
    configure(options, make_tricks(config.tricks))
    seed_everything(config.seed, device)
    generator = task.build_generator(base, options.model).to(device)
    critic = task.build_critic(base, options.model).to(device)
    return GanRun(config, base, options, task, generator, critic, device)


def train_run(
    config: RunConfig,
    *,
    sink: MetricSink,
    control: RunControl,
    device: torch.device | str = "cpu",
    checkpoint: CheckpointStore | None = None,
    amp: bool = False,
) -> TrainOutcome:
    """Train one run. Bad settings raise ConfigError before training; other exceptions propagate to the caller."""
    device = torch.device(device)
    info = task_info(config.task)
    task = load_task(info)
    if isinstance(task, ClassificationTask):
        run = prepare_classification(config, task, device, task_input=info.input, amp=amp)
        return train_classification(run, sink=sink, control=control, checkpoint=checkpoint)
    return train_gan(
        prepare_gan(config, task, device, task_input=info.input), sink=sink, control=control, checkpoint=checkpoint
    )
