"""Server process start-up: the heap settled into the permanent generation, later garbage still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from tricklab.api.process_setup import prepare_server_process, settle_heap


@pytest.fixture
def unfreeze_after() -> Iterator[None]:
    yield
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_settle_heap_freezes_what_is_alive(unfreeze_after: None) -> None:
    survivor = Node()
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert not any(obj is survivor for obj in gc.get_objects())  # frozen objects are outside every generation


def test_cycles_made_after_settling_are_still_collected(unfreeze_after: None) -> None:
    settle_heap()
    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    del a, b
    gc.collect()
    assert ref() is None


def test_prepare_server_process_runs_the_numeric_warm_up(unfreeze_after: None) -> None:
    prepare_server_process()
    assert gc.get_freeze_count() > 0
