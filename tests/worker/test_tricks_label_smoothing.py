import pytest
import torch
import torch.nn.functional as F
from tricklab_worker.engine.losses import make_criterion
from tricklab_worker.engine.options import LossOptions
from tricklab_worker.tricks.label_smoothing import smooth_targets

from tests.worker.helpers import make_config


def test_smoothed_targets_follow_the_seed_formula() -> None:
    targets = torch.tensor([0, 2])
    soft = smooth_targets(targets, 4, 0.2)
    assert soft[0].tolist() == pytest.approx([0.85, 0.05, 0.05, 0.05])
    assert soft.sum(dim=1).tolist() == pytest.approx([1.0, 1.0])


def test_criterion_equals_torch_cross_entropy_with_label_smoothing() -> None:
    generator = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(32, 10, generator=generator), torch.randint(0, 10, (32,), generator=generator)
    criterion = make_criterion(LossOptions(label_smoothing=0.1), torch.device("cpu"))
    reference = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(logits, targets)
    assert criterion(logits, targets).item() == pytest.approx(reference.item(), abs=1e-7)
    manual = -(smooth_targets(targets, 10, 0.1) * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    assert manual.item() == pytest.approx(reference.item(), abs=1e-6)


def test_trick_sets_the_criterion_epsilon() -> None:
    from tricklab_worker.engine.run import prepare_classification
    from tricklab_worker.tasks_builtin.digits import DigitsTask

    config = make_config("digits", {"label_smoothing": {"epsilon": 0.3}}, epochs=1)
    run = prepare_classification(config, DigitsTask(), torch.device("cpu"), task_input="image")
    assert run.options.loss.label_smoothing == 0.3
