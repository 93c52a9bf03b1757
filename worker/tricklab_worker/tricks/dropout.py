"""Dropout on every hidden layer of the built-in models (inverted dropout, torch's nn.Dropout)."""

from __future__ import annotations

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.engine.options import RunOptions


class Dropout(Trick):
    name = "dropout"

    def configure(self, options: RunOptions) -> None:
        options.model.dropout = self.float_param("p")
