import torch
from torch import nn
from tricklab_worker.engine.run import prepare_classification
from tricklab_worker.tasks_builtin.digits import DigitsTask

from tests.worker.helpers import make_config


def _model(tricks: dict[str, dict[str, object]], **base: object) -> nn.Module:
    config = make_config("digits", tricks, **base)
    return prepare_classification(config, DigitsTask(), torch.device("cpu"), task_input="image").model


def _hidden_weight(model: nn.Module) -> torch.Tensor:
    return next(m for m in model.modules() if isinstance(m, nn.Linear) and m.in_features == m.out_features).weight


def test_relu_replaces_the_base_activation() -> None:
    base = _model({}, activation="sigmoid", depth=3, width=256)
    relu = _model({"relu": {}}, activation="sigmoid", depth=3, width=256)
    assert any(isinstance(m, nn.Sigmoid) for m in base.modules()) and not any(
        isinstance(m, nn.ReLU) for m in base.modules()
    )
    assert any(isinstance(m, nn.ReLU) for m in relu.modules()) and not any(
        isinstance(m, nn.Sigmoid) for m in relu.modules()
    )


def test_init_follows_the_activation_unless_pinned() -> None:
    width = 256
    # Kaiming normal: std sqrt(2 / fan_in); Xavier uniform with gain 1 (sigmoid): std sqrt(2 / (fan_in + fan_out))
    kaiming = _hidden_weight(_model({"relu": {}}, activation="sigmoid", width=width)).std().item()
    xavier = _hidden_weight(_model({}, activation="sigmoid", width=width)).std().item()
    assert abs(kaiming - (2 / width) ** 0.5) < 0.01
    assert abs(xavier - (1 / width) ** 0.5) < 0.01
    # pinned xavier stays Xavier-uniform (bounded), with ReLU's gain sqrt(2)
    pinned = _hidden_weight(_model({"relu": {}}, activation="sigmoid", width=width, init="xavier"))
    bound = 2**0.5 * (6 / (2 * width)) ** 0.5
    assert pinned.abs().max().item() <= bound
    assert abs(pinned.std().item() - 2**0.5 * xavier) < 0.005
    # PyTorch's default: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), std 1/sqrt(3 fan_in)
    default = _hidden_weight(_model({"relu": {}}, width=width, init="default")).std().item()
    assert abs(default - (1 / (3 * width)) ** 0.5) < 0.005
