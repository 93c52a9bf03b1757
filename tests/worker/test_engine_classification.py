"""The classification loop's gradient norms, against torch's own norms."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from tricklab_worker.engine.classification import _gradient_norms


def test_gradient_norms_equal_torchs_total_norm_and_the_first_layers_norm() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    model(torch.randn(32, 8)).pow(2).mean().backward()
    parameters = list(model.parameters())
    total, first = _gradient_norms(parameters, 0)
    grads = [p.grad for p in parameters if p.grad is not None]
    assert total is not None and first is not None
    torch.testing.assert_close(total, torch.nn.utils.get_total_norm(grads))
    torch.testing.assert_close(first, model[0].weight.grad.norm())


def test_gradient_norms_skip_parameters_without_a_gradient() -> None:
    frozen, trained = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(3))
    (trained * 2.0).sum().backward()
    total, first = _gradient_norms([frozen, trained], 0)
    assert first is None
    assert total is not None
    torch.testing.assert_close(total, torch.tensor(12.0).sqrt())
    assert _gradient_norms([frozen], 0) == (None, None)


def _sink_batches(flush_seconds: float, monkeypatch: pytest.MonkeyPatch) -> int:
    from tricklab_worker.engine import classification, train_run

    from tests.worker.helpers import Control, RecordingSink, make_config

    monkeypatch.setattr(classification, "FLUSH_SECONDS", flush_seconds)
    sink = RecordingSink()
    config = make_config("digits", {}, epochs=1, batch_size=64, width=16, max_steps=12, eval_every=100)
    assert train_run(config, sink=sink, control=Control()).status == "succeeded"
    assert [s for s, _ in sink.points["train_loss"]] == list(range(1, 13))
    return sink.batches  # one per key per read-back


def test_metrics_are_read_back_at_least_every_flush_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    # 12 steps, no step-count read-back before the last: with a zero interval every step's
    # train_loss and lr are read back on their own; with an hour, everything once at the end
    assert _sink_batches(0.0, monkeypatch) >= 2 * 12
    assert _sink_batches(3600.0, monkeypatch) == 5  # train_loss, lr, grad_norm, val_loss, val_accuracy
