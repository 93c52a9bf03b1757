import pytest
from tricklab.catalog.tasks import BUILTIN_TASKS, TaskInfo
from tricklab_worker.engine.options import ConfigError
from tricklab_worker.engine.tasks import BaseConfig, ClassificationTask, GanTask, load_task, task_info


def test_every_builtin_task_loads_through_its_implementation_string() -> None:
    for info in BUILTIN_TASKS.values():
        task = load_task(info)
        assert isinstance(task, GanTask if info.kind == "gan" else ClassificationTask)


def test_bad_implementations_and_names_are_rejected() -> None:
    info = BUILTIN_TASKS["digits"].model_copy(update={"implementation": "tricklab_worker.tasks_builtin.digits"})
    with pytest.raises(ConfigError, match="module:Class"):
        load_task(info)
    not_a_task = TaskInfo.model_validate({**info.model_dump(), "implementation": "collections:OrderedDict"})
    with pytest.raises(ConfigError, match="neither"):
        load_task(not_a_task)
    with pytest.raises(ConfigError, match="unknown task"):
        task_info("imagenet")


def test_base_config_reads_typed_values() -> None:
    base = BaseConfig({"lr": 0.1, "depth": 3, "model": "mlp", "target": None})
    assert (base.get_float("lr"), base.get_int("depth"), base.get_str("model")) == (0.1, 3, "mlp")
    assert base.get_optional_float("target") is None and base.get_int("width", 8) == 8
    with pytest.raises(ConfigError, match="must be an integer"):
        base.get_int("model")
