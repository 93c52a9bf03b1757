"""Resuming from a checkpoint continues the same run: same curves, same final metrics."""

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from tricklab.schemas.run_config import RunConfig
from tricklab_worker.engine import CheckpointStore, train_run
from tricklab_worker.engine.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint

from tests.worker.helpers import Control, RecordingSink, make_config


def _without_wall_time(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k != "wall_time"}


def _interrupted_then_resumed(
    config: RunConfig, store: CheckpointStore, stop_after: int
) -> tuple[RecordingSink, int, dict[str, float]]:
    sink = RecordingSink()
    first = train_run(config, sink=sink, control=Control(stop_after=stop_after), checkpoint=store)
    assert first.status == "cancelled"
    second = train_run(config, sink=sink, control=Control(), checkpoint=store)
    assert second.status == "succeeded"
    return sink, second.resumed_from_step, second.final_metrics


def test_resumed_classification_run_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    tricks = {"dropout": {"p": 0.3}, "batch_norm": {}, "cyclic_lr": {"cycle_steps": 6}, "warmup": {"steps": 4}}
    config = make_config("digits", tricks, epochs=3, batch_size=64, width=32, optimizer="adam", lr=0.003)
    reference_sink = RecordingSink()
    reference = train_run(config, sink=reference_sink, control=Control())

    store = CheckpointStore(tmp_path / "run", every_steps=7, epoch_end_seconds=0.0)
    sink, resumed_from, final = _interrupted_then_resumed(config, store, stop_after=2)
    # cancelled at step 20; the last checkpoint was the epoch end at step 16 (16 steps per epoch)
    assert resumed_from == 16
    assert _without_wall_time(final) == _without_wall_time(reference.final_metrics)
    for key, points in reference_sink.points.items():
        assert sorted(set(sink.points[key])) == points, key
    assert final["snapshot_ensemble_members"] == 48 // 6


def test_resumed_gan_run_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    config = make_config(
        "ring_gan",
        {"wgan": {"variant": "clip", "n_critic": 2}},
        generator_steps=30,
        width=16,
        batch_size=32,
        eval_samples=200,
        eval_every=10,
    )
    reference = train_run(config, sink=RecordingSink(), control=Control())
    store = CheckpointStore(tmp_path / "gan", every_steps=5)
    _, resumed_from, final = _interrupted_then_resumed(config, store, stop_after=1)
    assert resumed_from == 10
    assert _without_wall_time(final) == _without_wall_time(reference.final_metrics)


def test_checkpoint_is_replaced_atomically_and_restores_every_rng(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, every_steps=1)
    assert load_checkpoint(store) is None and load_checkpoint(None) is None
    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    save_checkpoint(store, {"rng": capture_rng(torch.device("cpu")), "value": 1})
    expected = (torch.rand(1).item(), np.random.rand(), random.random())
    save_checkpoint(store, {**load_checkpoint(store), "value": 2})  # type: ignore[dict-item]
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
    saved = load_checkpoint(store)
    assert saved is not None and saved["value"] == 2
    restore_rng(saved["rng"], torch.device("cpu"))
    assert (torch.rand(1).item(), np.random.rand(), random.random()) == pytest.approx(expected)


def test_epoch_ends_save_only_when_the_last_save_is_old_enough(tmp_path: Path) -> None:
    config = make_config("digits", epochs=3, batch_size=64, width=32)
    # Saves at steps 7 and 14; the epoch end at 16 is under a minute after the save at 14.
    store = CheckpointStore(tmp_path / "run", every_steps=7, epoch_end_seconds=60.0)
    _, resumed_from, final = _interrupted_then_resumed(config, store, stop_after=2)
    assert resumed_from == 14
    reference = train_run(config, sink=RecordingSink(), control=Control())
    assert _without_wall_time(final) == _without_wall_time(reference.final_metrics)


def test_no_checkpoint_is_saved_at_the_last_step(tmp_path: Path) -> None:
    saves: list[int] = []

    def count_save() -> bool:
        saves.append(len(saves))
        return True

    # 48 steps (3 epochs of 16): every_steps=16 would have saved at 16, 32 and 48.
    store = CheckpointStore(tmp_path / "run", every_steps=16, epoch_end_seconds=0.0, before_save=count_save)
    outcome = train_run(
        make_config("digits", epochs=3, batch_size=64, width=32),
        sink=RecordingSink(),
        control=Control(),
        checkpoint=store,
    )
    assert outcome.status == "succeeded"
    assert len(saves) == 2
    saved = load_checkpoint(store)
    assert saved is not None and saved["loop"].step == 32
