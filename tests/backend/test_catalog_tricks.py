"""The trick catalog is complete, self-consistent and its defaults validate."""

from __future__ import annotations

import pytest
from tricklab.catalog.params import validate_params
from tricklab.catalog.tasks import BUILTIN_TASKS
from tricklab.catalog.tricks import TRICK_NAMES, TRICKS

from tests.conftest import CANONICAL_TRICKS as CANONICAL


def test_catalog_holds_exactly_the_thirteen_canonical_tricks() -> None:
    assert sorted(TRICK_NAMES) == sorted(CANONICAL)


@pytest.mark.parametrize("name", CANONICAL)
def test_each_trick_is_documented_and_its_defaults_validate(name: str) -> None:
    trick = TRICKS[name]
    assert trick.description and trick.paper and trick.title
    assert validate_params(trick.params, {}, ("factors", 0, name)) == {k: p.default for k, p in trick.params.items()}
    for group in trick.one_of:
        assert set(group) <= set(trick.params)


def test_conflicts_are_symmetric_and_name_real_tricks() -> None:
    for trick in TRICKS.values():
        for other in trick.conflicts:
            assert trick.name in TRICKS[other].conflicts
    assert TRICKS["batch_norm"].conflicts == ["group_norm"]


def test_every_trick_applies_to_some_builtin_task() -> None:
    kinds = {task.kind for task in BUILTIN_TASKS.values()}
    for trick in TRICKS.values():
        assert set(trick.applies_to) & kinds
