"""The task catalog: built-in tasks and plugin tasks found through entry points.

A task is a dataset plus a model factory. Its metadata (``TaskInfo``) is pure data
so the API server can validate specs without importing torch; ``implementation``
names the ``module:attribute`` the worker imports to build it.

Plugins register an entry point in the group ``tricklab.tasks`` whose target is a
``TaskInfo`` (or a zero-argument callable returning one) in a torch-free module.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.metadata import entry_points

from pydantic import BaseModel, ConfigDict

from tricklab.catalog.params import ParamSpec
from tricklab.catalog.tricks import TaskInput, TaskKind

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tricklab.tasks"


class TaskInfo(BaseModel):
    """What a task is, the base-config keys it accepts and the metrics it records."""

    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    kind: TaskKind
    input: TaskInput
    description: str
    params: dict[str, ParamSpec]
    metrics: list[str]
    implementation: str
    adversarial_methods: list[str] = []


def _p(type_: str, default: object, description: str, **kw: object) -> ParamSpec:
    return ParamSpec.model_validate({"type": type_, "default": default, "description": description, **kw})


TRAINING_PARAMS: dict[str, ParamSpec] = {
    "epochs": _p("int", 10, "passes over the training set", min=1, max=10_000),
    "batch_size": _p("int", 64, "mini-batch size", min=1, max=65_536),
    "lr": _p("float", 0.05, "base learning rate", min=0, min_exclusive=True, max=100),
    "optimizer": _p("choice", "sgd", "base optimizer", choices=["sgd", "adam", "adamw", "rmsprop"]),
    "momentum": _p("float", 0.9, "SGD momentum", min=0, max=1),
    "weight_decay": _p("float", 0.0, "L2 weight decay", min=0),
    "schedule": _p("choice", "constant", "base lr schedule", choices=["constant", "cosine", "step"]),
    "activation": _p("choice", "tanh", "base activation (the relu trick replaces it)", choices=["sigmoid", "tanh"]),
    "init": _p(
        "choice",
        "auto",
        "weight init; auto follows the activation (kaiming for relu, xavier otherwise)",
        choices=["auto", "default", "xavier", "kaiming"],
    ),
    "eval_every": _p("int", 0, "evaluate on the validation set every N steps (0 = once per epoch)", min=0),
    "log_every": _p("int", 1, "record train_loss every N steps", min=1),
    # Sampled, as W&B's watch() samples gradients: each norm is a few tensor ops on the step's
    # critical path, ~6% of a small CPU model's step when taken every step (issue 7).
    "grad_norm_every": _p(
        "int",
        10,
        "record grad_norm (and sample the first-layer norm behind first_layer_grad_norm) every N steps",
        min=1,
    ),
    "max_steps": _p("int", 0, "stop after N optimizer steps (0 = no limit)", min=0),
    "target": _p("float", None, "target value of the primary metric for steps-to-target", nullable=True),
    "eval_attack_epsilon": _p("float", 0.1, "epsilon of the fixed PGD attack behind robust_accuracy", min=0),
    "eval_attack_steps": _p("int", 20, "steps of the fixed PGD attack behind robust_accuracy", min=1),
}

CLASSIFICATION_METRICS = [
    "test_accuracy",
    "test_loss",
    "ece",
    "mean_confidence",
    "robust_accuracy",
    "first_layer_grad_norm",
    "snapshot_ensemble_accuracy",
    "wall_time",
]

_MLP_PARAMS: dict[str, ParamSpec] = {
    "model": _p("choice", "mlp", "network", choices=["mlp", "cnn"]),
    "depth": _p("int", 3, "hidden layers (MLP) or conv blocks (CNN)", min=1, max=200),
    "width": _p("int", 128, "hidden units (MLP) or channels (CNN)", min=1, max=4096),
}

BUILTIN_TASKS: dict[str, TaskInfo] = {
    t.name: t
    for t in [
        TaskInfo(
            name="digits",
            title="Digits 8x8 (sklearn)",
            kind="classification",
            input="image",
            description=(
                "sklearn's bundled 1,797 8x8 handwritten digits, 10 classes, a fixed stratified "
                "60/20/20 train/val/test split per seed. MLP of configurable depth/width or a small CNN."
            ),
            params={**TRAINING_PARAMS, **_MLP_PARAMS},
            metrics=CLASSIFICATION_METRICS,
            implementation="tricklab_worker.tasks_builtin.digits:DigitsTask",
            adversarial_methods=["fgsm", "pgd"],
        ),
        TaskInfo(
            name="digits_imbalanced",
            title="Digits, imbalanced",
            kind="classification",
            input="image",
            description=(
                "Digits with a configurable imbalance: binary (one digit vs the rest) or multi-class "
                "with the minority classes subsampled to 1/imbalance_ratio of the others."
            ),
            params={
                **TRAINING_PARAMS,
                **_MLP_PARAMS,
                "mode": _p("choice", "binary", "binary: minority digit vs the rest", choices=["binary", "multiclass"]),
                "minority_class": _p("int", 0, "the minority digit", min=0, max=9),
                "imbalance_ratio": _p("float", 20.0, "majority:minority ratio", min=1),
            },
            metrics=[*CLASSIFICATION_METRICS, "balanced_accuracy", "minority_recall", "auprc"],
            implementation="tricklab_worker.tasks_builtin.digits_imbalanced:DigitsImbalancedTask",
            adversarial_methods=["fgsm", "pgd"],
        ),
        TaskInfo(
            name="sequences",
            title="Synthetic token sequences",
            kind="classification",
            input="tokens",
            description=(
                "Generated token sequences whose class depends on which motif tokens occur; an "
                "embedding layer + mean pooling + MLP head. FGM perturbs the embedding output."
            ),
            params={
                **TRAINING_PARAMS,
                "depth": _p("int", 2, "hidden layers of the head", min=1, max=64),
                "width": _p("int", 64, "hidden units and embedding size", min=2, max=2048),
                "vocab_size": _p("int", 200, "vocabulary size", min=10, max=100_000),
                "seq_len": _p("int", 32, "sequence length", min=4, max=1024),
                "n_classes": _p("int", 4, "classes", min=2, max=64),
                "n_samples": _p("int", 4000, "generated samples", min=100, max=1_000_000),
            },
            metrics=CLASSIFICATION_METRICS,
            implementation="tricklab_worker.tasks_builtin.sequences:SequencesTask",
            adversarial_methods=["fgm"],
        ),
        TaskInfo(
            name="ring_gan",
            title="Ring of 8 Gaussians (GAN)",
            kind="gan",
            input="points",
            description=(
                "A 2-D mixture of 8 Gaussians on a ring; MLP generator and critic/discriminator "
                "(no batch norm in the critic). Scored by modes covered and the share of "
                "high-quality samples (within 3 sigma of a mode)."
            ),
            params={
                **{k: v for k, v in TRAINING_PARAMS.items() if not k.startswith("eval_attack")},
                "epochs": _p("int", 1, "unused for GANs beyond scaling generator_steps", min=1),
                "generator_steps": _p("int", 2000, "generator updates", min=1, max=1_000_000),
                "batch_size": _p("int", 256, "mini-batch size", min=1, max=65_536),
                "lr": _p("float", 1e-4, "learning rate of both networks", min=0, min_exclusive=True),
                "optimizer": _p("choice", "adam", "base optimizer", choices=["adam", "rmsprop", "sgd"]),
                "z_dim": _p("int", 2, "latent size", min=1, max=512),
                "depth": _p("int", 3, "hidden layers of G and D", min=1, max=64),
                "width": _p("int", 128, "hidden units of G and D", min=2, max=4096),
                "activation": _p("choice", "tanh", "base activation", choices=["sigmoid", "tanh"]),
                "radius": _p("float", 2.0, "ring radius", min=0, min_exclusive=True),
                "sigma": _p("float", 0.02, "std of each Gaussian", min=0, min_exclusive=True),
                "mode_share": _p("float", 0.01, "share of samples near a mode for it to count as covered", min=0),
                "eval_samples": _p("int", 2500, "samples drawn for evaluation", min=100),
            },
            metrics=["modes_covered", "hq_share", "critic_steps", "wall_time"],
            implementation="tricklab_worker.tasks_builtin.ring_gan:RingGanTask",
        ),
    ]
}


def _load_plugin_tasks() -> dict[str, TaskInfo]:
    found: dict[str, TaskInfo] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
            info = target() if callable(target) and not isinstance(target, TaskInfo) else target
            info = TaskInfo.model_validate(info)
        except Exception:  # a broken plugin must not take the catalog down
            log.exception("could not load task plugin %s", ep.name)
            continue
        if info.name in BUILTIN_TASKS:
            log.warning("plugin task %s shadows a built-in task; ignored", info.name)
            continue
        found[info.name] = info
    return found


@lru_cache(maxsize=1)
def all_tasks() -> dict[str, TaskInfo]:
    """Built-in tasks plus plugin tasks from the ``tricklab.tasks`` entry point group."""
    return {**BUILTIN_TASKS, **_load_plugin_tasks()}
