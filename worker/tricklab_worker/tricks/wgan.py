"""Wasserstein GAN: critic loss D(fake) - D(real), with weight clipping (RMSprop) or a gradient penalty (Adam)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.engine.options import RunOptions


def clip_weights(critic: nn.Module, clip: float = 0.01) -> None:
    """Clamp every critic parameter into [-clip, clip] in place (Arjovsky et al.)."""
    with torch.no_grad():
        for parameter in critic.parameters():
            parameter.clamp_(-clip, clip)


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, *, mix: Tensor | None = None) -> Tensor:
    """``E[(||grad D(x_hat)||_2 - 1)^2]`` at x_hat = u * real + (1 - u) * fake, u ~ U(0, 1) per sample.

    Gulrajani et al.; ``mix`` fixes u (tests), otherwise it is drawn from torch's global RNG.
    """
    if mix is None:
        mix = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
    interpolates = (mix * real.detach() + (1 - mix) * fake.detach()).requires_grad_(True)
    (gradient,) = torch.autograd.grad(critic(interpolates).sum(), interpolates, create_graph=True)
    penalty: Tensor = ((gradient.flatten(1).norm(dim=1) - 1) ** 2).mean()
    return penalty


@dataclass
class WassersteinObjective:
    variant: str = "gp"
    clip: float = 0.01
    gp_lambda: float = 10.0
    n_critic: int = 5

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        loss: Tensor = critic(fake).mean() - critic(real).mean()
        if self.variant == "gp":
            loss = loss + self.gp_lambda * gradient_penalty(critic, real, fake)
        return loss

    def generator_loss(self, critic: nn.Module, fake: Tensor) -> Tensor:
        loss: Tensor = -critic(fake).mean()
        return loss

    def after_critic_step(self, critic: nn.Module) -> None:
        if self.variant == "clip":
            clip_weights(critic, self.clip)


class WGAN(Trick):
    """Objective + n_critic; the optimizer becomes the variant's (unless radam pinned RAdam), lr unchanged."""

    name = "wgan"

    def configure(self, options: RunOptions) -> None:
        variant = str(self.params.get("variant", "gp"))
        options.gan_objective = WassersteinObjective(
            variant=variant,
            clip=self.float_param("clip"),
            gp_lambda=self.float_param("gp_lambda"),
            n_critic=int(self.float_param("n_critic")),
        )
        if not options.optimizer.pinned:
            options.optimizer.name = "rmsprop" if variant == "clip" else "adam"
            options.optimizer.betas = None if variant == "clip" else (0.5, 0.9)
