"""train_run end to end: every built-in task, outcomes, determinism, curves, plugin tasks."""

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from tricklab.catalog.tasks import all_tasks
from tricklab_worker.engine import ConfigError, train_run

from tests.worker.helpers import Control, RecordingSink, make_config

PLUGIN_DIR = Path(__file__).parent / "plugin_fixture"


def test_digits_trains_logs_the_contract_metrics_and_returns_final_metrics() -> None:
    sink, control = RecordingSink(), Control()
    config = make_config("digits", {"label_smoothing": {}}, epochs=2, batch_size=64, width=32, log_every=2)
    outcome = train_run(config, sink=sink, control=control)
    assert outcome.status == "succeeded" and outcome.resumed_from_step == 0
    steps_per_epoch = 1078 // 64
    assert sink.steps("train_loss") == list(range(2, 2 * steps_per_epoch + 1, 2))
    assert sink.steps("lr") == sink.steps("train_loss")
    assert sink.steps("grad_norm") == list(range(10, 2 * steps_per_epoch + 1, 10))  # grad_norm_every's default
    assert sink.steps("val_accuracy") == [steps_per_epoch, 2 * steps_per_epoch]
    assert sink.batches < 20  # flushed in batches, not per step
    for key in (
        "test_accuracy",
        "test_loss",
        "ece",
        "mean_confidence",
        "robust_accuracy",
        "first_layer_grad_norm",
        "wall_time",
    ):
        assert math.isfinite(outcome.final_metrics[key]), key
    assert outcome.final_metrics["test_accuracy"] > 0.8
    assert 0 <= outcome.final_metrics["robust_accuracy"] <= outcome.final_metrics["test_accuracy"]
    assert control.progress[-1] == 1.0


def test_same_config_and_seed_give_identical_final_metrics() -> None:
    config = make_config("digits", {"dropout": {}, "batch_norm": {}}, max_steps=30, width=32)
    first = train_run(config, sink=RecordingSink(), control=Control()).final_metrics
    second = train_run(config, sink=RecordingSink(), control=Control()).final_metrics
    first.pop("wall_time"), second.pop("wall_time")
    assert first == second
    other_seed = train_run(config.model_copy(update={"seed": 1}), sink=RecordingSink(), control=Control())
    assert other_seed.final_metrics["test_loss"] != first["test_loss"]


def test_non_finite_loss_ends_the_run_as_diverged_with_step_and_metric() -> None:
    sink = RecordingSink()
    config = make_config("digits", {"relu": {}}, lr=50.0, max_steps=100, depth=6, width=64)
    outcome = train_run(config, sink=sink, control=Control())
    assert outcome.status == "diverged"
    assert outcome.error is not None and "non-finite" in outcome.error and "at step" in outcome.error
    assert not math.isfinite(dict(sink.points[outcome.error.split()[1]])[int(outcome.error.split()[-1])])


def test_cancel_is_honoured_between_steps() -> None:
    control = Control(stop_after=2)
    outcome = train_run(make_config("digits", {}, epochs=5, width=16), sink=RecordingSink(), control=control)
    assert outcome.status == "cancelled" and outcome.error == "cancelled at step 20"


def test_bad_settings_are_rejected_before_training() -> None:
    sink = RecordingSink()
    with pytest.raises(ConfigError, match="must divide the width"):
        train_run(make_config("digits", {"group_norm": {"groups": 3}}, width=16), sink=sink, control=Control())
    assert sink.points == {}


@pytest.mark.parametrize(
    ("task", "tricks", "base"),
    [
        ("digits", {"skip_connection": {}, "relu": {}, "cyclic_lr": {"cycle_steps": 4}}, {"model": "cnn", "width": 8}),
        ("digits_imbalanced", {"focal_loss": {"alpha_minority": 0.75}}, {"width": 16}),
        ("digits_imbalanced", {}, {"mode": "multiclass", "width": 16}),
        ("sequences", {"adversarial": {"method": "fgm", "epsilon": 0.5}}, {"n_samples": 300}),
        ("digits", {"adversarial": {"method": "pgd", "steps": 2}, "flooding": {}}, {"width": 16}),
    ],
)
def test_each_task_trains_a_few_steps(task: str, tricks: dict[str, dict[str, object]], base: dict[str, object]) -> None:
    outcome = train_run(make_config(task, tricks, max_steps=8, **base), sink=RecordingSink(), control=Control())
    assert outcome.status == "succeeded"
    metrics = outcome.final_metrics
    if task == "digits_imbalanced":
        assert {"balanced_accuracy", "minority_recall", "auprc"} <= metrics.keys()
    if "cyclic_lr" in tricks:
        assert metrics["snapshot_ensemble_members"] == 2


def test_ring_gan_logs_gan_curves_and_scores() -> None:
    sink = RecordingSink()
    config = make_config(
        "ring_gan",
        {"wgan": {"variant": "gp", "n_critic": 3}},
        generator_steps=20,
        width=32,
        batch_size=64,
        eval_samples=200,
        eval_every=10,
    )
    outcome = train_run(config, sink=sink, control=Control())
    assert outcome.status == "succeeded"
    assert {"d_loss", "g_loss", "lr", "grad_norm", "critic_steps", "modes_covered", "hq_share"} <= sink.points.keys()
    assert sink.steps("modes_covered") == [10, 20]
    assert sink.points["critic_steps"][-1] == (20, 60.0)
    assert outcome.final_metrics["critic_steps"] == 60
    assert 0 <= outcome.final_metrics["modes_covered"] <= 8 and 0 <= outcome.final_metrics["hq_share"] <= 1


def test_wgan_toggle_keeps_the_generator_steps_and_architecture() -> None:
    base = {"generator_steps": 6, "width": 16, "batch_size": 32, "eval_samples": 100}
    plain = train_run(make_config("ring_gan", {}, **base), sink=RecordingSink(), control=Control())
    clipped = train_run(
        make_config("ring_gan", {"wgan": {"variant": "clip", "n_critic": 2}}, **base),
        sink=RecordingSink(),
        control=Control(),
    )
    assert (plain.final_metrics["critic_steps"], clipped.final_metrics["critic_steps"]) == (6, 12)


@pytest.fixture
def plugin_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Install the fixture plugin the way pip would: a dist-info declaring a tricklab.tasks entry point."""
    dist = tmp_path / "tricklab_demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tricklab-demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tricklab.tasks]\ndemo_blobs = tricklab_demo_plugin:demo_task\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    all_tasks.cache_clear()
    yield
    all_tasks.cache_clear()


@pytest.mark.usefixtures("plugin_on_path")
def test_a_plugin_task_from_the_entry_point_group_trains_with_tricks() -> None:
    assert "demo_blobs" in all_tasks()
    config = make_config(
        "demo_blobs", {"batch_norm": {}, "relu": {}, "adversarial": {"method": "fgsm"}}, epochs=3, batch_size=20, lr=0.1
    )
    outcome = train_run(config, sink=RecordingSink(), control=Control())
    assert outcome.status == "succeeded"
    assert outcome.final_metrics["test_accuracy"] > 0.8


def test_amp_flag_trains_on_cpu_in_bfloat16() -> None:
    outcome = train_run(
        make_config("digits", {}, max_steps=5, width=16),
        sink=RecordingSink(),
        control=Control(),
        amp=True,
        device=torch.device("cpu"),
    )
    assert outcome.status == "succeeded"


def test_grad_norm_every_sets_the_grad_norm_cadence() -> None:
    sink, control = RecordingSink(), Control()
    config = make_config("digits", {}, epochs=1, batch_size=64, width=16, grad_norm_every=1, max_steps=5)
    assert train_run(config, sink=sink, control=control).status == "succeeded"
    assert sink.steps("grad_norm") == [1, 2, 3, 4, 5]
    assert all(math.isfinite(v) and v > 0 for _, v in sink.points["grad_norm"])


def test_seed_everything_leaves_the_generators_as_torch_manual_seed_does() -> None:
    import random

    import numpy as np
    import torch
    from tricklab_worker.engine.run import seed_everything

    torch.manual_seed(7)
    expected = (torch.rand(5), random.random(), np.random.rand())
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    seed_everything(7, torch.device("cpu"))
    got = (torch.rand(5), random.random(), np.random.rand())
    assert torch.equal(got[0], expected[0])
    random.seed(7)
    np.random.seed(7)
    assert got[1:] == (random.random(), np.random.rand())
