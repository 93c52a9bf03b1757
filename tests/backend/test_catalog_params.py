"""Parameter schemas: coercion, bounds, unknown keys, defaults, error locations."""

from __future__ import annotations

import math

import pytest
from tricklab.catalog.params import ParamSpec, ParamValidationError, coerce_param, validate_params

SCHEMA = {
    "epochs": ParamSpec(type="int", default=10, min=1),
    "lr": ParamSpec(type="float", default=0.1, min=0, min_exclusive=True, max=10),
    "method": ParamSpec(type="choice", default="pgd", choices=["fgsm", "pgd"]),
    "alpha": ParamSpec(type="float_list", default=None, min=0, nullable=True),
    "pin": ParamSpec(type="bool", default=False),
}


def test_defaults_fill_missing_keys() -> None:
    assert validate_params(SCHEMA, {"epochs": 3}, ("base",)) == {
        "epochs": 3,
        "lr": 0.1,
        "method": "pgd",
        "alpha": None,
        "pin": False,
    }


def test_integral_float_is_accepted_as_int_and_bool_is_not() -> None:
    assert coerce_param(SCHEMA["epochs"], 4.0, ("x",)) == (4, [])
    _, errors = coerce_param(SCHEMA["epochs"], True, ("x",))
    assert errors and errors[0].msg == "must be an integer"
    _, errors = coerce_param(SCHEMA["epochs"], 2.5, ("x",))
    assert errors[0].msg == "must be an integer"


@pytest.mark.parametrize(
    ("key", "value", "msg"),
    [
        ("lr", 0, "must be > 0.0"),
        ("lr", 11, "must be <= 10.0"),
        ("epochs", 0, "must be >= 1.0"),
        ("lr", math.inf, "must be a finite number"),
        ("method", "bim", "must be one of fgsm, pgd"),
        ("lr", "0.1", "must be a number"),
        ("pin", 1, "must be a boolean"),
        ("method", None, "must not be null"),
    ],
)
def test_bad_values_name_field_and_reason(key: str, value: object, msg: str) -> None:
    with pytest.raises(ParamValidationError) as exc:
        validate_params(SCHEMA, {key: value}, ("factors", 2, "adversarial"))
    assert [(e.loc, e.msg) for e in exc.value.errors] == [(("factors", 2, "adversarial", key), msg)]


def test_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(ParamValidationError) as exc:
        validate_params(SCHEMA, {"epochz": 1}, ("base",))
    (error,) = exc.value.errors
    assert error.loc == ("base", "epochz")
    assert "unknown parameter" in error.msg and "epochs" in error.msg


def test_every_error_is_reported_not_only_the_first() -> None:
    with pytest.raises(ParamValidationError) as exc:
        validate_params(SCHEMA, {"epochs": -1, "lr": -1, "alpha": [0.5, -1, "x"]}, ("base",))
    locs = {e.loc for e in exc.value.errors}
    assert locs == {("base", "epochs"), ("base", "lr"), ("base", "alpha", 1), ("base", "alpha", 2)}


def test_float_list_and_nullable() -> None:
    assert coerce_param(SCHEMA["alpha"], [1, 0.5], ("a",)) == ([1.0, 0.5], [])
    assert coerce_param(SCHEMA["alpha"], None, ("a",)) == (None, [])
    _, errors = coerce_param(SCHEMA["alpha"], [], ("a",))
    assert errors[0].msg == "must be a non-empty list of numbers"


def test_non_mapping_params_are_rejected() -> None:
    with pytest.raises(ParamValidationError) as exc:
        validate_params(SCHEMA, [1, 2], ("factors", 0, "dropout"))  # type: ignore[arg-type]
    assert exc.value.errors[0].loc == ("factors", 0, "dropout")
