"""Residual blocks F(x) + x of the same depth and width; the input projection is where shapes change."""

from __future__ import annotations

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.engine.options import RunOptions


class SkipConnection(Trick):
    name = "skip_connection"

    def configure(self, options: RunOptions) -> None:
        options.model.residual = True
