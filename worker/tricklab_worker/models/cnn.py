"""A small CNN for square single-channel images given as flat vectors (8x8 digits)."""

from __future__ import annotations

import math

from torch import Tensor, nn

from tricklab_worker.engine.options import ConfigError, ModelOptions
from tricklab_worker.models.classifier import Classifier
from tricklab_worker.models.layers import PreActBlock, check_depth, init_weights, make_activation, make_norm


class SmallCNN(Classifier):
    """3x3 same-padding convs of ``width`` channels (``depth`` of them), then a linear classifier over all positions.

    No pooling: on 8x8 inputs every position matters. Residual blocks as in ``MLP``.
    """

    def __init__(self, in_features: int, out_features: int, *, depth: int, width: int, options: ModelOptions) -> None:
        super().__init__()
        check_depth(depth)
        side = math.isqrt(in_features)
        if side * side != in_features:
            raise ConfigError(f"model cnn needs square images; {in_features} inputs are not a square (use model: mlp)")
        self.side = side
        self.projection = nn.Conv2d(1, width, 3, padding=1)
        self.blocks = nn.Sequential(
            *(
                PreActBlock(nn.Conv2d(width, width, 3, padding=1), options, width, spatial=True)
                for _ in range(depth - 1)
            )
        )
        self.out_norm = make_norm(options, width, spatial=True)
        self.out_activation = make_activation(options.activation)
        self.out_dropout = nn.Dropout(options.dropout) if options.dropout > 0 else nn.Identity()
        self.output = nn.Linear(width * in_features, out_features)
        init_weights(self, options)

    def classify(self, features: Tensor) -> Tensor:
        images = features.reshape(features.shape[0], 1, self.side, self.side)
        hidden = self.blocks(self.projection(images))
        hidden = self.out_dropout(self.out_activation(self.out_norm(hidden)))
        out: Tensor = self.output(hidden.flatten(1))
        return out
