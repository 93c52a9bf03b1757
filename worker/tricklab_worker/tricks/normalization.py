"""BatchNorm / GroupNorm before every hidden activation, inserted by the model builder.

Whether groups divide the width is checked where the layer is built (``models.layers.make_norm``),
before training starts.
"""

from __future__ import annotations

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.engine.options import ConfigError, RunOptions


def _claim_norm(options: RunOptions, trick: str) -> None:
    if options.model.norm != "none":
        raise ConfigError(f"{trick} conflicts with the {options.model.norm} normalization already on: switch one off")


class BatchNorm(Trick):
    name = "batch_norm"

    def configure(self, options: RunOptions) -> None:
        _claim_norm(options, self.name)
        options.model.norm = "batch"
        options.model.norm_momentum = self.float_param("momentum")


class GroupNorm(Trick):
    name = "group_norm"

    def configure(self, options: RunOptions) -> None:
        _claim_norm(options, self.name)
        options.model.norm = "group"
        options.model.norm_groups = int(self.float_param("groups"))
