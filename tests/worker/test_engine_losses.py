import pytest
import torch
from tricklab_worker.engine.losses import make_criterion, training_objective
from tricklab_worker.engine.options import LossOptions
from tricklab_worker.tricks.focal_loss import focal_loss


def test_criterion_switches_to_focal_with_smoothing_and_alpha() -> None:
    generator = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(16, 3, generator=generator), torch.randint(0, 3, (16,), generator=generator)
    options = LossOptions(label_smoothing=0.1, focal_gamma=2.0, focal_alpha=[0.2, 0.3, 0.5])
    expected = focal_loss(logits, targets, gamma=2.0, alpha=torch.tensor([0.2, 0.3, 0.5]), label_smoothing=0.1)
    assert make_criterion(options, torch.device("cpu"))(logits, targets).item() == pytest.approx(expected.item())


def test_plain_criterion_is_cross_entropy_and_flooding_wraps_it() -> None:
    logits, targets = torch.tensor([[4.0, 0.0]]), torch.tensor([0])
    loss = make_criterion(LossOptions(), torch.device("cpu"))(logits, targets)
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, targets).item())
    assert training_objective(loss, LossOptions(flood_level=0.1)).item() == pytest.approx(0.2 - loss.item())
