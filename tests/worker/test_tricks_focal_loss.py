import math

import pytest
import torch
from tricklab_worker.engine.options import ConfigError
from tricklab_worker.engine.run import prepare_classification
from tricklab_worker.tasks_builtin.digits import DigitsTask
from tricklab_worker.tasks_builtin.digits_imbalanced import DigitsImbalancedTask
from tricklab_worker.tricks.focal_loss import FocalLoss, class_weights, focal_loss

from tests.worker.helpers import make_config

LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
TARGETS = torch.tensor([0, 2])


def _p(row: int, cls: int) -> float:
    exps = [math.exp(v) for v in LOGITS[row].tolist()]
    return exps[cls] / sum(exps)


def test_matches_hand_computed_values() -> None:
    p0, p1 = _p(0, 0), _p(1, 2)
    expected = (-((1 - p0) ** 2) * math.log(p0) - ((1 - p1) ** 2) * math.log(p1)) / 2
    assert focal_loss(LOGITS, TARGETS, gamma=2.0).item() == pytest.approx(expected, rel=1e-6)


def test_alpha_weights_each_sample_by_its_class() -> None:
    p0, p1 = _p(0, 0), _p(1, 2)
    alpha = torch.tensor([0.25, 0.5, 0.75])
    expected = (-0.25 * (1 - p0) * math.log(p0) - 0.75 * (1 - p1) * math.log(p1)) / 2
    assert focal_loss(LOGITS, TARGETS, gamma=1.0, alpha=alpha).item() == pytest.approx(expected, rel=1e-6)


def test_gamma_zero_without_alpha_is_cross_entropy() -> None:
    generator = torch.Generator().manual_seed(1)
    logits, targets = torch.randn(64, 10, generator=generator), torch.randint(0, 10, (64,), generator=generator)
    reference = torch.nn.functional.cross_entropy(logits, targets)
    assert focal_loss(logits, targets, gamma=0.0).item() == pytest.approx(reference.item(), abs=1e-6)


def test_composition_with_label_smoothing_puts_smoothed_targets_in_the_focal_term() -> None:
    eps, gamma = 0.3, 2.0
    expected = 0.0
    for row, target in enumerate(TARGETS.tolist()):
        for cls in range(3):
            q = (1 - eps) * (cls == target) + eps / 3
            p = _p(row, cls)
            expected += q * (1 - p) ** gamma * -math.log(p)
    got = FocalLoss(gamma=gamma, label_smoothing=eps)(LOGITS, TARGETS)
    assert got.item() == pytest.approx(expected / 2, rel=1e-6)
    # and gamma = 0 reduces the composition to torch's smoothed cross-entropy
    reference = torch.nn.CrossEntropyLoss(label_smoothing=eps)(LOGITS, TARGETS)
    assert focal_loss(LOGITS, TARGETS, gamma=0.0, label_smoothing=eps).item() == pytest.approx(
        reference.item(), abs=1e-6
    )


def test_easy_examples_are_down_weighted() -> None:
    easy = torch.tensor([[6.0, 0.0]])
    ratio = focal_loss(easy, torch.tensor([0]), gamma=2.0) / focal_loss(easy, torch.tensor([0]), gamma=0.0)
    assert ratio.item() < 1e-4


def test_alpha_minority_targets_the_minority_class() -> None:
    assert class_weights(2, [1], 0.75) == [0.25, 0.75]
    config = make_config("digits_imbalanced", {"focal_loss": {"alpha_minority": 0.9}}, epochs=1)
    run = prepare_classification(config, DigitsImbalancedTask(), torch.device("cpu"), task_input="image")
    assert run.options.loss.focal_alpha == pytest.approx([0.1, 0.9])


def test_bad_alpha_settings_are_rejected_with_a_fix() -> None:
    with pytest.raises(ConfigError, match="one weight per class"):
        prepare_classification(
            make_config("digits", {"focal_loss": {"alpha": [0.5, 0.5]}}),
            DigitsTask(),
            torch.device("cpu"),
            task_input="image",
        )
    with pytest.raises(ConfigError, match="digits_imbalanced"):
        prepare_classification(
            make_config("digits", {"focal_loss": {"alpha_minority": 0.5}}),
            DigitsTask(),
            torch.device("cpu"),
            task_input="image",
        )
