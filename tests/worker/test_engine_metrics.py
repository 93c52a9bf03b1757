import math

import pytest
import torch
from sklearn.metrics import average_precision_score, balanced_accuracy_score
from tricklab_worker.engine.metrics import MetricBuffer, expected_calibration_error, imbalance_metrics

from tests.worker.helpers import RecordingSink


def test_buffer_sends_each_key_once_per_flush_and_finds_the_first_non_finite_step() -> None:
    sink = RecordingSink()
    buffer = MetricBuffer(sink)
    for step, value in enumerate([1.0, 0.5, float("nan"), float("inf")], start=1):
        buffer.add("train_loss", step, torch.tensor(value))
        buffer.add("lr", step, 0.1)
    buffer.add("val_loss", 3, torch.tensor(float("inf")))
    flushed, divergence = buffer.flush()
    assert sink.batches == 3
    assert divergence is not None and divergence.message() == "non-finite train_loss at step 3"
    assert [s for s, _ in flushed["train_loss"]] == [1, 2, 3, 4] and math.isnan(flushed["train_loss"][2][1])
    assert buffer.flush() == ({}, None)


def test_buffer_merges_a_key_logged_as_tensors_and_floats_in_step_order() -> None:
    sink = RecordingSink()
    buffer = MetricBuffer(sink)
    buffer.add("val_loss", 4, 0.25)
    buffer.add("val_loss", 2, torch.tensor(0.5, dtype=torch.bfloat16))
    buffer.add("val_loss", 6, torch.tensor([0.125]))
    flushed, divergence = buffer.flush()
    assert divergence is None
    assert flushed == {"val_loss": [(2, 0.5), (4, 0.25), (6, 0.125)]}
    assert sink.points["val_loss"] == [(2, 0.5), (4, 0.25), (6, 0.125)]


def test_lr_is_not_a_divergence_signal() -> None:
    buffer = MetricBuffer(RecordingSink())
    buffer.add("lr", 1, float("inf"))
    assert buffer.flush()[1] is None


def test_ece_against_a_hand_computed_value() -> None:
    probabilities = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    targets = torch.tensor([0, 1, 0, 1])
    # bins: 0.9 (2 samples, accuracy 0.5), 0.6 (1, acc 1), 0.7 (1, acc 1)
    expected = 0.5 * abs(0.5 - 0.9) + 0.25 * abs(1 - 0.6) + 0.25 * abs(1 - 0.7)
    assert expected_calibration_error(probabilities, targets, n_bins=15) == pytest.approx(expected)


def test_imbalance_metrics_match_sklearn() -> None:
    generator = torch.Generator().manual_seed(0)
    targets = (torch.rand(200, generator=generator) < 0.1).long()
    scores = torch.rand(200, generator=generator) * 0.6 + 0.4 * targets
    probabilities = torch.stack([1 - scores, scores], dim=1)
    metrics = imbalance_metrics(probabilities, targets, minority=[1])
    prediction = probabilities.argmax(dim=1)
    assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(targets, prediction))
    assert metrics["minority_recall"] == pytest.approx(
        ((prediction == 1) & (targets == 1)).sum().item() / targets.sum().item()
    )
    assert metrics["auprc"] == pytest.approx(average_precision_score(targets, scores))


def test_columns_stay_valid_across_flushes_and_series_join_the_same_read() -> None:
    sink = RecordingSink()
    buffer = MetricBuffer(sink)
    loss_steps, loss_values = buffer.tensor_column("train_loss")
    lr_steps, lr_values = buffer.float_column("lr")
    for step in (1, 2):
        loss_steps.append(step)
        loss_values.append(torch.tensor(step / 4))
        lr_steps.append(step)
        lr_values.append(0.1)
    buffer.add_series("grad_norm", [2], torch.tensor([3.0]))
    flushed, _ = buffer.flush()
    assert flushed == {"lr": [(1, 0.1), (2, 0.1)], "train_loss": [(1, 0.25), (2, 0.5)], "grad_norm": [(2, 3.0)]}
    loss_steps.append(3)  # the same lists, emptied by the flush, take the next points
    loss_values.append(torch.tensor(float("nan")))
    buffer.add_series("grad_norm", [3, 4], torch.tensor([1.0, 2.0], dtype=torch.bfloat16))
    flushed, divergence = buffer.flush()
    assert flushed["grad_norm"] == [(3, 1.0), (4, 2.0)] and "lr" not in flushed
    assert divergence is not None and divergence.message() == "non-finite train_loss at step 3"
    assert sink.points["train_loss"][:2] == [(1, 0.25), (2, 0.5)] and len(sink.points["train_loss"]) == 3
    assert buffer.flush() == ({}, None)


def test_a_series_alone_is_read_and_merged_with_points_of_its_key() -> None:
    buffer = MetricBuffer(RecordingSink())
    buffer.add_series("grad_norm", [20, 30], torch.tensor([2.0, 3.0]))
    buffer.add("grad_norm", 10, 1.0)
    flushed, divergence = buffer.flush()
    assert divergence is None and flushed == {"grad_norm": [(10, 1.0), (20, 2.0), (30, 3.0)]}
