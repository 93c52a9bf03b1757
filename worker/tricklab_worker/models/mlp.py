"""A configurable-depth MLP: an input projection, ``depth - 1`` hidden blocks, an output layer."""

from __future__ import annotations

from torch import Tensor, nn

from tricklab_worker.engine.options import ModelOptions
from tricklab_worker.models.classifier import Classifier
from tricklab_worker.models.layers import PreActBlock, check_depth, init_weights, make_activation, make_norm


class MLP(Classifier):
    """``depth`` hidden layers of ``width`` units; with ``options.residual`` layers 2..depth are residual blocks.

    The first layer is the projection where the shape changes (input -> width), so plain and
    residual variants have identical parameter shapes and, with the same seed, identical init.
    """

    def __init__(self, in_features: int, out_features: int, *, depth: int, width: int, options: ModelOptions) -> None:
        super().__init__()
        check_depth(depth)
        self.projection = nn.Linear(in_features, width)
        self.blocks = nn.Sequential(
            *(PreActBlock(nn.Linear(width, width), options, width, spatial=False) for _ in range(depth - 1))
        )
        self.out_norm = make_norm(options, width, spatial=False)
        self.out_activation = make_activation(options.activation)
        self.out_dropout = nn.Dropout(options.dropout) if options.dropout > 0 else nn.Identity()
        self.output = nn.Linear(width, out_features)
        init_weights(self, options)

    def classify(self, features: Tensor) -> Tensor:
        hidden = self.blocks(self.projection(features.flatten(1)))
        out: Tensor = self.output(self.out_dropout(self.out_activation(self.out_norm(hidden))))
        return out
