"""The classification loop's metric read-back cadence."""

from __future__ import annotations

import pytest


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
