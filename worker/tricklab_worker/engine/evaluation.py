"""Evaluating a classifier: validation points (kept on the device) and the final test metrics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tricklab_worker.engine.metrics import expected_calibration_error, imbalance_metrics
from tricklab_worker.models.classifier import Classifier
from tricklab_worker.tricks.adversarial import pgd_perturb

EVAL_CHUNK = 2048


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Evaluate with running statistics and no dropout, then restore the previous mode."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def logits_of(model: nn.Module, inputs: Tensor) -> Tensor:
    with torch.no_grad(), eval_mode(model):
        return torch.cat([model(chunk) for chunk in torch.split(inputs, EVAL_CHUNK)])


def probabilities_of(model: nn.Module, inputs: Tensor) -> Tensor:
    return F.softmax(logits_of(model, inputs).float(), dim=1)


def loss_and_accuracy(model: nn.Module, inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Plain (unsmoothed) cross-entropy and accuracy, as device scalars: no host sync here."""
    logits = logits_of(model, inputs).float()
    return F.cross_entropy(logits, targets), (logits.argmax(dim=1) == targets).float().mean()


def robust_accuracy(
    model: Classifier,
    inputs: Tensor,
    targets: Tensor,
    *,
    epsilon: float,
    steps: int,
    seed: int,
    bounds: tuple[float, float] | None,
) -> float:
    """Accuracy under a fixed L-inf PGD attack on the attack surface (same for every run of an experiment)."""
    if epsilon == 0:
        return float(loss_and_accuracy(model, inputs, targets)[1].item())
    generator = torch.Generator().manual_seed(seed)
    correct = torch.zeros((), device=inputs.device)
    with eval_mode(model):
        for chunk_x, chunk_y in zip(torch.split(inputs, EVAL_CHUNK), torch.split(targets, EVAL_CHUNK), strict=True):
            with torch.no_grad():
                features = model.embed(chunk_x)
            adversarial = pgd_perturb(
                model.classify,
                features,
                chunk_y,
                F.cross_entropy,
                epsilon=epsilon,
                steps=steps,
                bounds=bounds,
                generator=generator,
            )
            with torch.no_grad():
                correct = correct + (model.classify(adversarial).argmax(dim=1) == chunk_y).sum()
    return float(correct.item()) / len(targets)


def final_test_metrics(model: nn.Module, inputs: Tensor, targets: Tensor, minority: list[int]) -> dict[str, float]:
    """test_accuracy, test_loss, ece (15 bins), mean_confidence and, with minority classes, the imbalance scores."""
    logits = logits_of(model, inputs).float()
    probabilities = F.softmax(logits, dim=1)
    metrics = {
        "test_accuracy": float((logits.argmax(dim=1) == targets).float().mean().item()),
        "test_loss": float(F.cross_entropy(logits, targets).item()),
        "ece": expected_calibration_error(probabilities, targets, n_bins=15),
        "mean_confidence": float(probabilities.max(dim=1).values.mean().item()),
    }
    if minority:
        metrics.update(imbalance_metrics(probabilities, targets, minority))
    return metrics
