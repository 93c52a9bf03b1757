import pytest
import torch
from tricklab_worker.engine.losses import training_objective
from tricklab_worker.engine.options import LossOptions
from tricklab_worker.tricks.flooding import Flood, flood


def _gradient(loss_value: float, b: float) -> float:
    weight = torch.tensor(loss_value, requires_grad=True)
    flood(weight * 1.0, b).backward()
    assert weight.grad is not None
    return float(weight.grad)


def test_gradient_descends_above_and_ascends_below_the_flood_level() -> None:
    assert _gradient(0.5, 0.1) == 1.0
    assert _gradient(0.05, 0.1) == -1.0


def test_value_is_mirrored_at_b() -> None:
    assert flood(torch.tensor(0.5), 0.1).item() == pytest.approx(0.5)
    assert flood(torch.tensor(0.04), 0.1).item() == pytest.approx(0.16)
    assert Flood(0.1)(torch.tensor(0.04)).item() == pytest.approx(0.16)


def test_objective_is_flooded_only_when_on() -> None:
    loss = torch.tensor(0.02)
    assert training_objective(loss, LossOptions()).item() == pytest.approx(0.02)
    assert training_objective(loss, LossOptions(flood_level=0.05)).item() == pytest.approx(0.08)
