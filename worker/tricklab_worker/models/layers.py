"""Building blocks shared by the MLP, the CNN and the GAN networks."""

from __future__ import annotations

from torch import Tensor, nn

from tricklab_worker.engine.options import Activation, ConfigError, ModelOptions


def make_activation(name: Activation) -> nn.Module:
    """The module for a base or trick activation."""
    return {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}[name]()


def make_norm(options: ModelOptions, channels: int, *, spatial: bool) -> nn.Module:
    """BatchNorm or GroupNorm over ``channels`` (or identity); GroupNorm needs groups dividing channels."""
    if options.norm == "batch":
        cls = nn.BatchNorm2d if spatial else nn.BatchNorm1d
        return cls(channels, momentum=options.norm_momentum)
    if options.norm == "group":
        groups = options.norm_groups
        if channels % groups:
            divisors = [d for d in range(1, channels + 1) if channels % d == 0]
            raise ConfigError(
                f"group_norm: groups={groups} must divide the width {channels}; "
                f"set group_norm.groups to one of {divisors} or change base.width"
            )
        return nn.GroupNorm(groups, channels)
    return nn.Identity()


def init_weights(module: nn.Module, options: ModelOptions) -> None:
    """Kaiming for ReLU, Xavier (with the activation's gain) for sigmoid/tanh, or PyTorch's default."""
    scheme = options.resolved_init
    if scheme == "default":
        return
    for layer in module.modules():
        if not isinstance(layer, nn.Linear | nn.Conv2d):
            continue
        if scheme == "kaiming":
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        else:
            nonlinearity = "relu" if options.activation == "relu" else options.activation
            nn.init.xavier_uniform_(layer.weight, gain=nn.init.calculate_gain(nonlinearity))
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


class PreActBlock(nn.Module):
    """``h -> [h +] transform(dropout(act(norm(h))))``: a residual block when ``residual``, a plain layer otherwise.

    Both variants have the same depth, width and parameters; with zero transform weights the
    residual block is the identity.
    """

    def __init__(self, transform: nn.Module, options: ModelOptions, channels: int, *, spatial: bool) -> None:
        super().__init__()
        self.norm = make_norm(options, channels, spatial=spatial)
        self.activation = make_activation(options.activation)
        self.dropout = nn.Dropout(options.dropout) if options.dropout > 0 else nn.Identity()
        self.transform = transform
        self.residual = options.residual

    def forward(self, hidden: Tensor) -> Tensor:
        out: Tensor = self.transform(self.dropout(self.activation(self.norm(hidden))))
        return hidden + out if self.residual else out


def check_depth(depth: int) -> None:
    if depth < 1:
        raise ConfigError(f"depth={depth}: a network needs at least one hidden layer (set base.depth >= 1)")
