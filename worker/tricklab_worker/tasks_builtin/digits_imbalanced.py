"""Digits with one minority class: binary (minority digit vs the rest) or 10-class with that digit subsampled."""

from __future__ import annotations

import numpy as np
from torch import nn

from tricklab_worker.engine.options import ModelOptions
from tricklab_worker.engine.tasks import BaseConfig, ClassificationData, ClassificationTask
from tricklab_worker.tasks_builtin.digits import build_image_model, digits_arrays, stratified_split


class DigitsImbalancedTask(ClassificationTask):
    """The minority class keeps 1/imbalance_ratio as many samples as an average majority class.

    Which minority samples are kept depends on the seed, like the split, so seed s is the same
    dataset for every combination.
    """

    def load_data(self, base: BaseConfig, seed: int) -> ClassificationData:
        inputs, digits = digits_arrays()
        minority_digit = base.get_int("minority_class", 0)
        ratio = base.get_float("imbalance_ratio", 20.0)
        binary = base.get_str("mode", "binary") == "binary"
        is_minority = digits == minority_digit
        if binary:
            targets = is_minority.astype(np.int64)
            majority_count = float((~is_minority).sum())
            minority_label = 1
        else:
            targets = digits
            majority_count = float((~is_minority).sum()) / 9.0
            minority_label = minority_digit
        keep_minority = max(5, round(majority_count / ratio))
        rng = np.random.RandomState(seed)
        minority_index = rng.permutation(np.flatnonzero(is_minority))[:keep_minority]
        index = np.sort(np.concatenate([np.flatnonzero(~is_minority), minority_index]))
        return stratified_split(
            inputs[index], targets[index], seed, n_classes=2 if binary else 10, minority=[minority_label]
        )

    def build_model(self, base: BaseConfig, options: ModelOptions, data: ClassificationData) -> nn.Module:
        return build_image_model(base, options, data.train_inputs.shape[1], data.n_classes)
