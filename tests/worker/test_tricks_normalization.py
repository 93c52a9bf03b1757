import pytest
import torch
from torch import nn
from tricklab_worker.engine.options import ConfigError
from tricklab_worker.engine.run import prepare_classification
from tricklab_worker.engine.setup import make_tricks
from tricklab_worker.tasks_builtin.digits import DigitsTask

from tests.worker.helpers import make_config


def _model(tricks: dict[str, dict[str, object]], **base: object) -> nn.Module:
    config = make_config("digits", tricks, **base)
    return prepare_classification(config, DigitsTask(), torch.device("cpu"), task_input="image").model


def test_batch_norm_is_inserted_before_every_hidden_activation() -> None:
    model = _model({"batch_norm": {"momentum": 0.2}}, depth=4, width=16)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(norms) == 4 and all(n.momentum == 0.2 for n in norms)
    cnn = _model({"batch_norm": {}}, model="cnn", depth=2, width=8)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in cnn.modules()) == 2


def test_group_norm_layers_normalise_each_group_of_each_sample() -> None:
    model = _model({"group_norm": {"groups": 4}}, depth=2, width=16)
    norm = next(m for m in model.modules() if isinstance(m, nn.GroupNorm))
    assert norm.num_groups == 4
    hidden = torch.randn(3, 16) * 5 + 2
    out = norm(hidden).detach().reshape(3, 4, 4)
    assert out.mean(dim=2).abs().max().item() < 1e-5
    assert out.var(dim=2, unbiased=False).sub(1).abs().max().item() < 1e-3
    # the seed's reference formula
    grouped = hidden.reshape(3, 4, 4)
    manual = (grouped - grouped.mean(dim=2, keepdim=True)) / torch.sqrt(
        grouped.var(dim=2, unbiased=False, keepdim=True) + 1e-5
    )
    assert torch.allclose(out, manual, atol=1e-5)
    assert torch.allclose(norm(hidden), nn.functional.group_norm(hidden, 4, norm.weight, norm.bias))


def test_groups_must_divide_the_width() -> None:
    with pytest.raises(ConfigError, match=r"groups=5 must divide the width 16.*\[1, 2, 4, 8, 16\]"):
        _model({"group_norm": {"groups": 5}}, width=16)


def test_batch_norm_and_group_norm_conflict() -> None:
    with pytest.raises(ConfigError, match="conflicts with group_norm"):
        make_tricks({"batch_norm": {"momentum": 0.1}, "group_norm": {"groups": 4}})
