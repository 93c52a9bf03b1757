"""Multi-class focal loss -alpha_c (1 - p_c)^gamma log p_c, with soft (label-smoothed) targets.

Composition with label smoothing: the per-class focal terms are weighted by the smoothed target
distribution q, ``sum_c q_c alpha_c (1 - p_c)^gamma (-log p_c)``. With q one-hot this is the
paper's ``-alpha_t (1 - p_t)^gamma log p_t``; with gamma = 0 and no alpha it is cross-entropy
with label smoothing exactly as ``torch.nn.CrossEntropyLoss(label_smoothing=eps)`` defines it.
The batch loss is the plain mean over samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.engine.options import ConfigError, RunOptions
from tricklab_worker.tricks.label_smoothing import smooth_targets


def focal_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    gamma: float = 2.0,
    alpha: Tensor | None = None,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Mean focal loss of integer ``targets``; ``alpha`` holds one weight per class."""
    log_probs = F.log_softmax(logits, dim=1)
    weights = smooth_targets(targets, logits.shape[1], label_smoothing)
    if gamma != 0:
        # clamp: (1-p)^gamma has an infinite derivative at p = 1 for gamma < 1
        weights = weights * (1.0 - log_probs.exp()).clamp_min(1e-12).pow(gamma)
    if alpha is not None:
        weights = weights * alpha
    return -(weights * log_probs).sum(dim=1).mean()


class FocalLoss(nn.Module):
    def __init__(self, *, gamma: float = 2.0, alpha: Tensor | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.gamma = gamma
        self.label_smoothing = label_smoothing
        self.register_buffer("alpha", alpha)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        alpha = self.alpha if isinstance(self.alpha, Tensor) else None
        return focal_loss(logits, targets, gamma=self.gamma, alpha=alpha, label_smoothing=self.label_smoothing)


def class_weights(n_classes: int, minority: list[int], alpha_minority: float) -> list[float]:
    """alpha for the minority class(es), 1 - alpha for the others."""
    return [alpha_minority if c in minority else 1.0 - alpha_minority for c in range(n_classes)]


class Focal(Trick):
    name = "focal_loss"

    def configure(self, options: RunOptions) -> None:
        options.loss.focal_gamma = self.float_param("gamma")
        alpha = self.params.get("alpha")
        alpha_minority = self.optional_float("alpha_minority")
        if isinstance(alpha, list):
            if len(alpha) != options.n_classes:
                raise ConfigError(
                    f"focal_loss.alpha has {len(alpha)} weights but task {options.task_name} has "
                    f"{options.n_classes} classes; give one weight per class or use alpha_minority"
                )
            options.loss.focal_alpha = [float(a) for a in alpha]
        elif alpha_minority is not None:
            if not options.minority_classes:
                raise ConfigError(
                    f"focal_loss.alpha_minority needs a task with a minority class (e.g. digits_imbalanced); "
                    f"task {options.task_name} has none: use focal_loss.alpha instead"
                )
            options.loss.focal_alpha = class_weights(options.n_classes, options.minority_classes, alpha_minority)


def alpha_tensor(alpha: list[float] | None, device: torch.device) -> Tensor | None:
    return None if alpha is None else torch.tensor(alpha, dtype=torch.float32, device=device)
