"""The task catalog: built-ins are valid, plugins come from the tricklab.tasks entry point group."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tricklab.catalog import tasks as tasks_module
from tricklab.catalog.params import validate_params
from tricklab.catalog.tasks import BUILTIN_TASKS, TaskInfo, all_tasks


@pytest.mark.parametrize("name", sorted(BUILTIN_TASKS))
def test_builtin_defaults_validate(name: str) -> None:
    task = BUILTIN_TASKS[name]
    validate_params(task.params, {}, ("base",))
    module, _, attribute = task.implementation.partition(":")
    assert module.startswith("tricklab_worker.") and attribute


def test_plugin_task_is_found_through_its_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "toy_task-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-task\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tricklab.tasks]\ntoy = toy_task_info:info\n")
    (tmp_path / "toy_task_info.py").write_text(
        "from tricklab.catalog.tasks import TaskInfo, TRAINING_PARAMS\n"
        "def info():\n"
        "    return TaskInfo(name='toy', title='Toy', kind='classification', input='vector',\n"
        "        description='a toy', params=dict(TRAINING_PARAMS), metrics=['test_accuracy'],\n"
        "        implementation='toy_task_impl:ToyTask')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    all_tasks.cache_clear()
    try:
        found = all_tasks()
        assert isinstance(found["toy"], TaskInfo)
        assert found["toy"].implementation == "toy_task_impl:ToyTask"
        assert set(BUILTIN_TASKS) < set(found)
    finally:
        all_tasks.cache_clear()
        sys.modules.pop("toy_task_info", None)


def test_broken_plugin_is_skipped_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "bad_task-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-task\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tricklab.tasks]\nbad = does_not_exist_module:info\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "bad" not in tasks_module._load_plugin_tasks()
