"""ReLU instead of the base activation; init follows it (Kaiming) unless base.init pins one."""

from __future__ import annotations

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.engine.options import RunOptions


class ReLU(Trick):
    name = "relu"

    def configure(self, options: RunOptions) -> None:
        options.model.activation = "relu"
