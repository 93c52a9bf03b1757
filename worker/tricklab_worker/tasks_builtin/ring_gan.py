"""A ring of 8 Gaussians in 2-D; MLP generator and critic (no normalization layers in the critic)."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import Tensor, nn

from tricklab_worker.engine.options import ModelOptions
from tricklab_worker.engine.tasks import BaseConfig, GanTask
from tricklab_worker.models import MLP

N_MODES = 8


def ring_centers(radius: float, device: torch.device | str = "cpu") -> Tensor:
    angles = torch.arange(N_MODES, dtype=torch.float32, device=device) * (2 * math.pi / N_MODES)
    return torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], dim=1)


def ring_scores(samples: Tensor, *, radius: float, sigma: float, mode_share: float) -> dict[str, float]:
    """modes_covered: modes with >= mode_share of samples within 3 sigma; hq_share: share within 3 sigma of any mode."""
    distances = torch.cdist(samples.float(), ring_centers(radius, samples.device))
    nearest, mode = distances.min(dim=1)
    high_quality = nearest <= 3 * sigma
    counts = torch.bincount(mode[high_quality], minlength=N_MODES).float() / samples.shape[0]
    return {
        "modes_covered": float((counts >= mode_share).sum().item()),
        "hq_share": float(high_quality.float().mean().item()),
    }


class RingGanTask(GanTask):
    """G and D share depth, width and activation; the wgan toggle changes only the objective and optimizer."""

    def sample_real(self, base: BaseConfig, n: int, device: torch.device) -> Tensor:
        mode = torch.randint(0, N_MODES, (n,), device=device)
        centers = ring_centers(base.get_float("radius", 2.0), device)
        return centers[mode] + base.get_float("sigma", 0.02) * torch.randn(n, 2, device=device)

    def build_generator(self, base: BaseConfig, options: ModelOptions) -> nn.Module:
        return MLP(
            base.get_int("z_dim", 2),
            2,
            depth=base.get_int("depth", 3),
            width=base.get_int("width", 128),
            options=replace(options, norm="none", dropout=0.0),
        )

    def build_critic(self, base: BaseConfig, options: ModelOptions) -> nn.Module:
        return MLP(
            2,
            1,
            depth=base.get_int("depth", 3),
            width=base.get_int("width", 128),
            options=replace(options, norm="none", dropout=0.0),
        )

    def score(self, base: BaseConfig, samples: Tensor) -> dict[str, float]:
        return ring_scores(
            samples,
            radius=base.get_float("radius", 2.0),
            sigma=base.get_float("sigma", 0.02),
            mode_share=base.get_float("mode_share", 0.01),
        )
