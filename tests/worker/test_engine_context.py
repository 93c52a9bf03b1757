"""``CheckpointStore.due``: when the engine saves a checkpoint."""

from pathlib import Path

from tricklab_worker.engine import CheckpointStore


def test_every_steps_saves_regardless_of_time_but_never_at_the_last_step(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, every_steps=5, epoch_end_seconds=3600.0)
    assert [s for s in range(1, 21) if store.due(s, epoch_end=False, final=False)] == [5, 10, 15, 20]
    assert not store.due(20, epoch_end=True, final=True)


def test_an_epoch_end_saves_once_the_last_save_is_old_enough(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, every_steps=500, epoch_end_seconds=10.0)
    assert not store.due(18, epoch_end=True, final=False)  # the store was created just now
    assert not store.due(19, epoch_end=False, final=False)
    store.last_saved -= 10.0
    assert store.due(36, epoch_end=True, final=False)
    assert CheckpointStore(tmp_path, epoch_end_seconds=0.0).due(18, epoch_end=True, final=False)
