"""Label smoothing: soft targets (1 - eps) * onehot + eps / K."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.engine.options import RunOptions


def smooth_targets(targets: Tensor, n_classes: int, epsilon: float = 0.1) -> Tensor:
    """The seed's ``(1 - label_smooth) * targets + label_smooth / num_classes`` on one-hot targets."""
    onehot = F.one_hot(targets, n_classes).float()
    return (1.0 - epsilon) * onehot + epsilon / n_classes


class LabelSmoothing(Trick):
    """Sets the criterion's smoothing; with focal_loss the smoothed targets enter the focal term."""

    name = "label_smoothing"

    def configure(self, options: RunOptions) -> None:
        options.loss.label_smoothing = self.float_param("epsilon")
