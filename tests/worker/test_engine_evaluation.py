import pytest
import torch
from torch import nn
from tricklab_worker.engine.evaluation import eval_mode, final_test_metrics, loss_and_accuracy, robust_accuracy
from tricklab_worker.models.classifier import InputClassifier


def _model() -> InputClassifier:
    torch.manual_seed(0)
    return InputClassifier(nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 3)))


def test_eval_mode_restores_training_mode() -> None:
    model = _model()
    with eval_mode(model):
        assert not model.training
    assert model.training


def test_metrics_use_running_statistics_and_plain_cross_entropy() -> None:
    model, inputs, targets = _model(), torch.randn(30, 4), torch.randint(0, 3, (30,))
    loss, accuracy = loss_and_accuracy(model, inputs, targets)
    model.eval()
    logits = model(inputs)
    assert loss.item() == pytest.approx(nn.functional.cross_entropy(logits, targets).item())
    assert accuracy.item() == pytest.approx((logits.argmax(1) == targets).float().mean().item())
    metrics = final_test_metrics(model, inputs, targets, minority=[])
    assert metrics["test_accuracy"] == pytest.approx(accuracy.item())
    assert metrics["mean_confidence"] == pytest.approx(logits.softmax(1).max(1).values.mean().item())


def test_robust_accuracy_is_fixed_by_the_seed_and_at_most_clean_accuracy() -> None:
    model, inputs = _model(), torch.rand(60, 4)
    model.eval()
    targets = model(inputs).argmax(1).detach()  # clean accuracy 1
    kwargs = {"epsilon": 0.3, "steps": 10, "seed": 0, "bounds": (0.0, 1.0)}
    first = robust_accuracy(model, inputs, targets, **kwargs)  # type: ignore[arg-type]
    assert first == robust_accuracy(model, inputs, targets, **kwargs)  # type: ignore[arg-type]
    assert first < 1.0
    assert robust_accuracy(model, inputs, targets, epsilon=0.0, steps=1, seed=0, bounds=None) == 1.0
