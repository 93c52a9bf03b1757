"""The classification criterion built from ``LossOptions``; flooding is applied on top by ``training_objective``."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from tricklab_worker.engine.options import Criterion, LossOptions
from tricklab_worker.tricks.flooding import flood
from tricklab_worker.tricks.focal_loss import alpha_tensor, focal_loss


def make_criterion(options: LossOptions, device: torch.device) -> Criterion:
    """Cross-entropy (with label smoothing) or, when focal loss is on, the focal loss over smoothed targets."""
    if options.focal_gamma is None:
        return partial(F.cross_entropy, label_smoothing=options.label_smoothing)
    return partial(
        focal_loss,
        gamma=options.focal_gamma,
        alpha=alpha_tensor(options.focal_alpha, device),
        label_smoothing=options.label_smoothing,
    )


def training_objective(loss: Tensor, options: LossOptions) -> Tensor:
    """What is differentiated: the loss, flooded at ``flood_level`` when flooding is on."""
    return loss if options.flood_level is None else flood(loss, options.flood_level)
