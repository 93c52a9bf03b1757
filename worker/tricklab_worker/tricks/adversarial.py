"""Adversarial training: FGSM / PGD on the inputs (L-inf), FGM on the embedding output (L2).

The attack surface is whatever ``Classifier.embed`` returns: the inputs for vector/image tasks,
the token embeddings for token tasks. Training minimises clean + weight * adversarial loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.engine.options import AdversarialOptions, ConfigError, Criterion, RunOptions

Head = Callable[[Tensor], Tensor]


def _loss_gradient(head: Head, features: Tensor, targets: Tensor, criterion: Criterion) -> Tensor:
    features = features.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(criterion(head(features), targets), features)
    return gradient


def _clamp(features: Tensor, bounds: tuple[float, float] | None) -> Tensor:
    return features if bounds is None else features.clamp(*bounds)


def fgsm_perturb(
    head: Head,
    features: Tensor,
    targets: Tensor,
    criterion: Criterion,
    *,
    epsilon: float,
    bounds: tuple[float, float] | None = None,
) -> Tensor:
    """``x + epsilon * sign(grad_x loss)`` (Goodfellow et al.)."""
    gradient = _loss_gradient(head, features, targets, criterion)
    return _clamp(features.detach() + epsilon * gradient.sign(), bounds)


def pgd_perturb(
    head: Head,
    features: Tensor,
    targets: Tensor,
    criterion: Criterion,
    *,
    epsilon: float,
    steps: int,
    alpha: float | None = None,
    bounds: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """L-inf PGD with a uniform random start (Madry et al.); step size ``alpha`` defaults to 2.5 * epsilon / steps."""
    step_size = alpha if alpha is not None else 2.5 * epsilon / steps
    clean = features.detach()
    noise = torch.rand(clean.shape, generator=generator, device=clean.device if generator is None else "cpu")
    adversarial = _clamp(clean + epsilon * (2 * noise.to(clean.device) - 1), bounds)
    for _ in range(steps):
        gradient = _loss_gradient(head, adversarial, targets, criterion)
        adversarial = adversarial.detach() + step_size * gradient.sign()
        adversarial = _clamp(clean + (adversarial - clean).clamp(-epsilon, epsilon), bounds)
    return adversarial.detach()


def fgm_perturb(head: Head, features: Tensor, targets: Tensor, criterion: Criterion, *, epsilon: float) -> Tensor:
    """``e + epsilon * g / ||g||_2`` with the L2 norm taken per sample (Miyato et al.)."""
    gradient = _loss_gradient(head, features, targets, criterion)
    norms = gradient.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (gradient.dim() - 1)))
    perturbed: Tensor = features.detach() + epsilon * gradient / norms
    return perturbed.detach()


@dataclass(frozen=True)
class FGSM:
    epsilon: float
    bounds: tuple[float, float] | None = None

    def perturb(self, head: Head, features: Tensor, targets: Tensor, criterion: Criterion) -> Tensor:
        return fgsm_perturb(head, features, targets, criterion, epsilon=self.epsilon, bounds=self.bounds)


@dataclass(frozen=True)
class PGD:
    epsilon: float
    steps: int
    alpha: float | None = None
    bounds: tuple[float, float] | None = None

    def perturb(self, head: Head, features: Tensor, targets: Tensor, criterion: Criterion) -> Tensor:
        return pgd_perturb(
            head,
            features,
            targets,
            criterion,
            epsilon=self.epsilon,
            steps=self.steps,
            alpha=self.alpha,
            bounds=self.bounds,
        )


@dataclass(frozen=True)
class FGM:
    epsilon: float

    def perturb(self, head: Head, features: Tensor, targets: Tensor, criterion: Criterion) -> Tensor:
        return fgm_perturb(head, features, targets, criterion, epsilon=self.epsilon)


class Adversarial(Trick):
    name = "adversarial"

    def configure(self, options: RunOptions) -> None:
        method = str(self.params.get("method", "pgd"))
        epsilon = self.float_param("epsilon")
        on_tokens = options.task_input == "tokens"
        if on_tokens != (method == "fgm"):
            fitting = "fgm" if on_tokens else "fgsm or pgd"
            raise ConfigError(
                f"adversarial.method={method} does not fit task {options.task_name} "
                f"({options.task_input} input): use {fitting}"
            )
        bounds = options.input_range
        adversary: FGSM | PGD | FGM
        if method == "fgsm":
            adversary = FGSM(epsilon, bounds)
        elif method == "pgd":
            adversary = PGD(epsilon, int(self.float_param("steps")), self.optional_float("alpha"), bounds)
        else:
            adversary = FGM(epsilon)
        options.adversarial = AdversarialOptions(adversary=adversary, weight=self.float_param("weight"))
