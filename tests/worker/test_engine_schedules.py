import math

import pytest
from tricklab_worker.engine.options import ConfigError
from tricklab_worker.engine.schedules import ConstantSchedule, CosineSchedule, StepSchedule, base_schedule


def test_base_schedules_at_chosen_steps() -> None:
    assert ConstantSchedule(0.1)(1000) == 0.1
    cosine = CosineSchedule(0.1, total_steps=100)
    assert cosine(1) == pytest.approx(0.1)
    assert cosine(51) == pytest.approx(0.05)
    assert cosine(101) == pytest.approx(0.0, abs=1e-12)
    assert cosine(26) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 0.25)))
    step = StepSchedule(1.0, total_steps=100)
    assert [step(t) for t in (50, 51, 75, 76)] == pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_unknown_schedule_is_rejected() -> None:
    assert isinstance(base_schedule("cosine", 0.1, 10), CosineSchedule)
    with pytest.raises(ConfigError, match="use constant, cosine or step"):
        base_schedule("linear", 0.1, 10)
