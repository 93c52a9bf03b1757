"""``CheckpointStore.due``: when the engine saves a checkpoint."""

from pathlib import Path

from tricklab_worker.engine import CheckpointStore


def test_every_steps_saves_regardless_of_time_but_never_at_the_last_step(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, every_steps=5, seconds=3600.0, epoch_end_seconds=3600.0)
    assert [s for s in range(1, 21) if store.due(s, epoch_end=False, final=False)] == [5, 10, 15, 20]
    assert not store.due(20, epoch_end=True, final=True)


def test_by_default_a_short_run_saves_no_checkpoint_whatever_its_step_count(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)  # created at the run's start
    assert store.every_steps is None
    assert not any(store.due(s, epoch_end=s % 18 == 0, final=False) for s in range(1, 5_001))


def test_a_save_comes_at_the_first_step_seconds_after_the_last(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, seconds=30.0, epoch_end_seconds=3600.0)
    assert not store.due(7, epoch_end=False, final=False)
    store.last_saved -= 30.0
    assert store.due(8, epoch_end=False, final=False)
    assert not store.due(9, epoch_end=False, final=True)


def test_an_epoch_end_saves_once_the_last_save_is_old_enough(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, epoch_end_seconds=10.0)
    assert not store.due(18, epoch_end=True, final=False)  # the store was created just now
    assert not store.due(19, epoch_end=False, final=False)
    store.last_saved -= 10.0
    assert store.due(36, epoch_end=True, final=False)
    assert not store.due(37, epoch_end=False, final=False)  # 10 s is enough only at an epoch end
    assert CheckpointStore(tmp_path, epoch_end_seconds=0.0).due(18, epoch_end=True, final=False)
