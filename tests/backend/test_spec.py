"""Resolving experiment specs against the catalogs: every error names its field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tricklab.schemas.spec import ExperimentSpec, LevelFactor, SpecError, TrickFactor, default_direction, resolve_spec


def spec(**kw: Any) -> ExperimentSpec:
    return ExperimentSpec.model_validate({"name": "t", "task": "digits", **kw})


def error_locs(s: ExperimentSpec) -> dict[tuple[str | int, ...], str]:
    with pytest.raises(SpecError) as exc:
        resolve_spec(s)
    return {e.loc: e.msg for e in exc.value.errors}


def test_factor_forms_resolve_with_defaults() -> None:
    resolved = resolve_spec(spec(factors=["batch_norm", {"warmup": {"steps": 50}}, {"lr": [0.01, 0.1]}]))
    assert resolved.factors == [
        TrickFactor(name="batch_norm", params={"momentum": 0.1}),
        TrickFactor(name="warmup", params={"epochs": 1.0, "steps": 50}),
        LevelFactor(name="lr", levels=[0.01, 0.1]),
    ]
    assert resolved.base["epochs"] == 10 and resolved.base["activation"] == "tanh"
    assert resolved.direction == "maximize"


def test_unknown_task_names_the_task_field() -> None:
    locs = error_locs(spec(task="imagenet"))
    assert list(locs) == [("task",)]
    assert "unknown task 'imagenet'" in locs[("task",)]


def test_unknown_trick_and_bad_parameter_are_both_reported() -> None:
    locs = error_locs(spec(factors=["mixup", {"dropout": {"p": 1.5}}]))
    assert "unknown trick 'mixup'" in locs[("factors", 0)]
    assert locs[("factors", 1, "dropout", "p")] == "must be <= 0.95"


def test_bad_base_key_and_value() -> None:
    locs = error_locs(spec(base={"epochs": 0, "colour": "red"}))
    assert locs[("base", "epochs")] == "must be >= 1.0"
    assert "unknown parameter" in locs[("base", "colour")]


def test_trick_not_applicable_to_task_kind() -> None:
    locs = error_locs(spec(factors=["wgan"]))
    assert "does not apply to task digits" in locs[("factors", 0, "wgan")]
    locs = error_locs(spec(task="ring_gan", factors=["label_smoothing"]))
    assert ("factors", 0, "label_smoothing") in locs


def test_adversarial_method_must_fit_the_task_inputs() -> None:
    locs = error_locs(spec(factors=[{"adversarial": {"method": "fgm"}}]))
    assert "does not fit task digits" in locs[("factors", 0, "adversarial", "method")]
    resolve_spec(spec(task="sequences", factors=[{"adversarial": {"method": "fgm", "epsilon": 0.5}}]))


def test_one_of_parameters_cannot_both_be_given() -> None:
    locs = error_locs(spec(factors=[{"warmup": {"steps": 10, "epochs": 2}}]))
    assert locs[("factors", 0, "warmup")] == "give only one of epochs, steps"


def test_conflicting_tricks_rejected_when_the_design_turns_them_all_on() -> None:
    locs = error_locs(spec(factors=["batch_norm", "group_norm"], design="leave_one_out"))
    assert "conflicting tricks batch_norm and group_norm" in locs[("factors",)]
    # a full factorial simply excludes the conflicting cell
    resolve_spec(spec(factors=["batch_norm", "group_norm"]))


def test_duplicate_factor_and_level_factor_errors() -> None:
    locs = error_locs(spec(factors=["relu", "relu", {"lr": [0.1]}, {"nope": [1, 2]}, {"lr": [0.1, 0.1]}]))
    assert "listed twice" in locs[("factors", 1)]
    assert "at least two levels" in locs[("factors", 2, "lr")]
    assert "unknown base parameter" in locs[("factors", 3, "nope")]
    assert locs[("factors", 4, "lr")] == "levels must be distinct"


def test_unknown_metric_for_the_task() -> None:
    locs = error_locs(spec(metric="modes_covered"))
    assert ("metric",) in locs


def test_structural_errors_come_from_pydantic_with_a_location() -> None:
    with pytest.raises(ValidationError) as exc:
        ExperimentSpec.model_validate({"name": "", "task": "digits", "seeds": 0, "surprise": 1})
    locs = {tuple(e["loc"]) for e in exc.value.errors()}
    assert {("name",), ("seeds",), ("surprise",)} <= locs


@pytest.mark.parametrize(
    ("metric", "direction"),
    [("test_accuracy", "maximize"), ("test_loss", "minimize"), ("ece", "minimize"), ("hq_share", "maximize")],
)
def test_default_direction(metric: str, direction: str) -> None:
    assert default_direction(metric) == direction
