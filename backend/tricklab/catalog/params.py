"""Typed parameter schemas shared by tricks and tasks, and their validation.

Pure pydantic: the API server validates specs with these, the worker reads the
normalised values. Validation errors carry a location so the API can answer 422
naming the exact field (``factors.1.warmup.epochs``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ParamType = Literal["int", "float", "bool", "choice", "str", "float_list"]
ParamValue = int | float | bool | str | list[float] | None


class ParamSpec(BaseModel):
    """One parameter: its type, default, bounds and meaning."""

    model_config = ConfigDict(frozen=True)

    type: ParamType
    default: ParamValue = None
    description: str = ""
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    choices: list[str] | None = None
    nullable: bool = False


@dataclass(frozen=True)
class ParamError:
    """A validation failure at a location inside a spec."""

    loc: tuple[str | int, ...]
    msg: str


class ParamValidationError(ValueError):
    """Raised with every ParamError found, so callers can report all of them."""

    def __init__(self, errors: list[ParamError]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors))
        self.errors = errors


def _check_number(spec: ParamSpec, value: float, loc: tuple[str | int, ...]) -> list[ParamError]:
    errors: list[ParamError] = []
    if not math.isfinite(value):
        return [ParamError(loc, "must be a finite number")]
    if spec.min is not None:
        if spec.min_exclusive and value <= spec.min:
            errors.append(ParamError(loc, f"must be > {spec.min}"))
        elif not spec.min_exclusive and value < spec.min:
            errors.append(ParamError(loc, f"must be >= {spec.min}"))
    if spec.max is not None and value > spec.max:
        errors.append(ParamError(loc, f"must be <= {spec.max}"))
    return errors


def coerce_param(spec: ParamSpec, value: Any, loc: tuple[str | int, ...]) -> tuple[ParamValue, list[ParamError]]:
    """Check one value against its spec; return the normalised value and any errors."""
    if value is None:
        if spec.nullable:
            return None, []
        return None, [ParamError(loc, "must not be null")]
    if spec.type == "bool":
        if isinstance(value, bool):
            return value, []
        return None, [ParamError(loc, "must be a boolean")]
    if spec.type == "int":
        if isinstance(value, bool) or not isinstance(value, int | float) or float(value) != int(value):
            return None, [ParamError(loc, "must be an integer")]
        return int(value), _check_number(spec, float(value), loc)
    if spec.type == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, [ParamError(loc, "must be a number")]
        return float(value), _check_number(spec, float(value), loc)
    if spec.type == "choice":
        choices = spec.choices or []
        if not isinstance(value, str) or value not in choices:
            return None, [ParamError(loc, f"must be one of {', '.join(choices)}")]
        return value, []
    if spec.type == "str":
        if not isinstance(value, str):
            return None, [ParamError(loc, "must be a string")]
        return value, []
    # float_list
    if not isinstance(value, list) or not value:
        return None, [ParamError(loc, "must be a non-empty list of numbers")]
    out: list[float] = []
    errors: list[ParamError] = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | float):
            errors.append(ParamError((*loc, i), "must be a number"))
            continue
        errors.extend(_check_number(spec, float(item), (*loc, i)))
        out.append(float(item))
    return out, errors


def validate_params(
    schema: dict[str, ParamSpec],
    values: dict[str, Any] | None,
    loc: tuple[str | int, ...],
    *,
    fill_defaults: bool = True,
) -> dict[str, ParamValue]:
    """Validate a parameter mapping; unknown keys and bad values raise ParamValidationError."""
    values = values or {}
    errors: list[ParamError] = []
    if not isinstance(values, dict):
        raise ParamValidationError([ParamError(loc, "must be a mapping of parameter names to values")])
    out: dict[str, ParamValue] = {}
    for key, raw in values.items():
        if key not in schema:
            known = ", ".join(sorted(schema)) or "none"
            errors.append(ParamError((*loc, key), f"unknown parameter (known: {known})"))
            continue
        value, errs = coerce_param(schema[key], raw, (*loc, key))
        errors.extend(errs)
        out[key] = value
    if errors:
        raise ParamValidationError(errors)
    if fill_defaults:
        for key, spec in schema.items():
            out.setdefault(key, spec.default)
    return out
