import pytest
import torch
from torch import nn
from tricklab_worker.engine.options import ConfigError, ModelOptions, OptimizerOptions, build_optimizer


def test_each_optimizer_name_builds_its_torch_class() -> None:
    params = list(nn.Linear(2, 2).parameters())
    expected = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
        "radam": torch.optim.RAdam,
    }
    for name, cls in expected.items():
        optimizer = build_optimizer(OptimizerOptions(name=name, lr=0.01, weight_decay=0.1), params)
        assert type(optimizer) is cls
        assert optimizer.param_groups[0]["lr"] == 0.01 and optimizer.param_groups[0]["weight_decay"] == 0.1
    with pytest.raises(ConfigError, match="unknown optimizer"):
        build_optimizer(OptimizerOptions(name="lion"), params)


def test_auto_init_follows_the_activation() -> None:
    assert ModelOptions(activation="relu").resolved_init == "kaiming"
    assert ModelOptions(activation="sigmoid").resolved_init == "xavier"
    assert ModelOptions(activation="relu", init="default").resolved_init == "default"
