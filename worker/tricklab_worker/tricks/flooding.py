"""Flooding: train on |loss - b| + b, so the gradient flips sign once the loss drops below b."""

from __future__ import annotations

from torch import Tensor, nn

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.engine.options import RunOptions


def flood(loss: Tensor, b: float = 0.05) -> Tensor:
    """The seed's ``(loss - b).abs() + b`` on the mini-batch loss."""
    return (loss - b).abs() + b


class Flood(nn.Module):
    def __init__(self, b: float = 0.05) -> None:
        super().__init__()
        self.b = b

    def forward(self, loss: Tensor) -> Tensor:
        return flood(loss, self.b)


class Flooding(Trick):
    name = "flooding"

    def configure(self, options: RunOptions) -> None:
        options.loss.flood_level = self.float_param("b")
