import pytest
import torch
from torch import nn
from tricklab_worker.tricks.wgan import WGAN, WassersteinObjective, clip_weights, gradient_penalty

from tests.worker.test_tricks_warmup import options


def test_clipping_bounds_every_critic_weight() -> None:
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    clip_weights(critic, 0.01)
    assert all(p.abs().max().item() <= 0.01 for p in critic.parameters())
    assert any(p.abs().max().item() == pytest.approx(0.01) for p in critic.parameters())


def test_gradient_penalty_of_a_linear_critic_is_the_squared_norm_gap() -> None:
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 4.0]]))  # ||grad D|| = 5 everywhere
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)


def test_gradient_penalty_on_a_quadratic_critic_at_known_interpolates() -> None:
    class Quadratic(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x**2).sum(dim=1, keepdim=True)

    real, fake = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.zeros(2, 2)
    mix = torch.tensor([[0.5], [1.0]])  # interpolates (0.5, 0) and (0, 2): gradient norms 1 and 4
    assert gradient_penalty(Quadratic(), real, fake, mix=mix).item() == pytest.approx((0.0 + 9.0) / 2)


def test_critic_and_generator_losses_and_the_clip_step() -> None:
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[1.0, 0.0]]))
        critic.bias.zero_()
    real, fake = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.5, 0.0]])
    objective = WassersteinObjective(variant="clip", clip=0.1)
    assert objective.critic_loss(critic, real, fake).item() == pytest.approx(0.5 - 2.0)
    assert objective.generator_loss(critic, fake).item() == pytest.approx(-0.5)
    objective.after_critic_step(critic)
    assert critic.weight.max().item() == pytest.approx(0.1)


def test_variant_picks_its_optimizer() -> None:
    for variant, name, betas in (("clip", "rmsprop", None), ("gp", "adam", (0.5, 0.9))):
        run = options()
        WGAN({"variant": variant, "clip": 0.01, "gp_lambda": 10.0, "n_critic": 5}).configure(run)
        assert (run.optimizer.name, run.optimizer.betas) == (name, betas)
        assert run.gan_objective is not None and run.gan_objective.n_critic == 5
