import pytest
from tricklab_worker.engine.options import LossOptions, ModelOptions, OptimizerOptions, RunOptions, Timing
from tricklab_worker.engine.schedules import ConstantSchedule
from tricklab_worker.tricks.cyclic_lr import CyclicLR
from tricklab_worker.tricks.warmup import Warmup, linear_warmup_factor


def options(lr: float = 0.1, steps_per_epoch: int = 10) -> RunOptions:
    return RunOptions(
        task_name="digits",
        task_kind="classification",
        task_input="image",
        timing=Timing(steps_per_epoch, 100),
        n_classes=10,
        minority_classes=[],
        input_range=None,
        model=ModelOptions(),
        loss=LossOptions(),
        optimizer=OptimizerOptions(lr=lr),
        schedule=ConstantSchedule(lr),
    )


def test_factor_is_linear_then_one() -> None:
    assert [linear_warmup_factor(t, 4) for t in (1, 2, 3, 4, 5, 100)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_seed_formula_in_steps_and_epochs() -> None:
    by_steps = options()
    Warmup({"steps": 5, "epochs": 1.0}).configure(by_steps)
    # the seed: lr * global_step / warmup_steps while global_step < warmup_steps
    assert [by_steps.lr_at(t) for t in (1, 3, 5, 6)] == pytest.approx([0.02, 0.06, 0.1, 0.1])
    by_epochs = options(steps_per_epoch=8)
    Warmup({"steps": None, "epochs": 0.5}).configure(by_epochs)
    assert by_epochs.lr_at(2) == pytest.approx(0.1 * 2 / 4)


def test_warmup_multiplies_the_cyclic_schedule_in_either_order() -> None:
    for order in ((Warmup, CyclicLR), (CyclicLR, Warmup)):
        run = options(lr=0.1)
        params = {
            Warmup: {"steps": 4, "epochs": 1.0},
            CyclicLR: {"cycle_steps": 10, "cycle_epochs": 2.0, "lr_min": 0.0},
        }
        for cls in order:
            cls(params[cls]).configure(run)
        cyclic = CyclicLR(params[CyclicLR])
        reference = options(lr=0.1)
        cyclic.configure(reference)
        for step in (1, 2, 3, 4, 7, 11, 13):
            assert run.lr_at(step) == pytest.approx(reference.schedule(step) * min(1.0, step / 4))
