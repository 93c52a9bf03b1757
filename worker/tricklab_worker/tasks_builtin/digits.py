"""sklearn's bundled 8x8 digits: a stratified 60/20/20 split per seed, MLP or small CNN."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from tricklab_worker.engine.options import ConfigError, ModelOptions
from tricklab_worker.engine.tasks import BaseConfig, ClassificationData, ClassificationTask
from tricklab_worker.models import MLP, SmallCNN


@lru_cache(maxsize=1)
def digits_arrays() -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """All 1,797 digits, pixels scaled to [0, 1]."""
    bunch = load_digits()
    return (np.asarray(bunch.data, dtype=np.float32) / 16.0, np.asarray(bunch.target, dtype=np.int64))


def stratified_split(
    inputs: NDArray[np.float32],
    targets: NDArray[np.int64],
    seed: int,
    n_classes: int,
    minority: list[int] | None = None,
) -> ClassificationData:
    """60/20/20 train/val/test, stratified by class, fixed by ``seed``."""
    x_rest, x_test, y_rest, y_test = train_test_split(
        inputs, targets, test_size=0.2, stratify=targets, random_state=seed
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=0.25, stratify=y_rest, random_state=seed
    )
    return ClassificationData(
        train_inputs=torch.from_numpy(x_train),
        train_targets=torch.from_numpy(y_train),
        val_inputs=torch.from_numpy(x_val),
        val_targets=torch.from_numpy(y_val),
        test_inputs=torch.from_numpy(x_test),
        test_targets=torch.from_numpy(y_test),
        n_classes=n_classes,
        minority_classes=minority or [],
        input_range=(0.0, 1.0),
    )


def build_image_model(base: BaseConfig, options: ModelOptions, in_features: int, n_classes: int) -> nn.Module:
    """``base.model`` mlp or cnn with ``base.depth`` and ``base.width``."""
    kind = base.get_str("model", "mlp")
    depth, width = base.get_int("depth", 3), base.get_int("width", 128)
    if kind == "mlp":
        return MLP(in_features, n_classes, depth=depth, width=width, options=options)
    if kind == "cnn":
        return SmallCNN(in_features, n_classes, depth=depth, width=width, options=options)
    raise ConfigError(f"base.model={kind!r}: use mlp or cnn")


class DigitsTask(ClassificationTask):
    """10-class digits."""

    def load_data(self, base: BaseConfig, seed: int) -> ClassificationData:
        inputs, targets = digits_arrays()
        return stratified_split(inputs, targets, seed, n_classes=10)

    def build_model(self, base: BaseConfig, options: ModelOptions, data: ClassificationData) -> nn.Module:
        return build_image_model(base, options, data.train_inputs.shape[1], data.n_classes)
