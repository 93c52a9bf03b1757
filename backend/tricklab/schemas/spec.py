"""The experiment spec (same schema for the API, the CLI and the browser form).

``ExperimentSpec`` checks structure; ``resolve_spec`` checks it against the
catalogs (task, tricks, parameters, conflicts, applicability) and returns a
``ResolvedSpec`` whose every parameter is typed and defaulted. Errors carry the
location of the bad field, e.g. ``("factors", 1, "warmup", "epochs")``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tricklab.analysis.fractional import FractionError, fraction
from tricklab.catalog.params import ParamError, ParamValidationError, ParamValue, coerce_param, validate_params
from tricklab.catalog.tasks import TaskInfo, all_tasks
from tricklab.catalog.tricks import TRICKS

DesignName = Literal["full", "fractional", "leave_one_out", "add_one_in", "custom"]
Direction = Literal["maximize", "minimize"]

FactorItem = str | dict[str, dict[str, Any] | list[Any] | None]


class ExperimentSpec(BaseModel):
    """An ablation: a task, a base config, the factors to toggle, a design and seeds."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    task: str = Field(min_length=1, max_length=100)
    base: dict[str, Any] = Field(default_factory=dict)
    factors: list[FactorItem] = Field(default_factory=list, max_length=64)
    design: DesignName = "full"
    resolution: int | None = Field(default=None, ge=3, le=5, description="fractional designs: III, IV or V")
    combinations: list[list[str]] | None = Field(
        default=None, description="custom designs: each item lists the factors switched on"
    )
    seeds: int = Field(default=3, ge=1, le=100)
    metric: str = Field(default="test_accuracy", min_length=1, max_length=100)
    direction: Direction | None = None
    description: str = Field(default="", max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=32)


class TrickFactor(BaseModel):
    """A trick toggled off/on; ``params`` are used when it is on."""

    kind: Literal["trick"] = "trick"
    name: str
    params: dict[str, ParamValue]


class LevelFactor(BaseModel):
    """A base hyperparameter taking each of ``levels``."""

    kind: Literal["level"] = "level"
    name: str
    levels: list[ParamValue]


Factor = TrickFactor | LevelFactor


class ResolvedSpec(BaseModel):
    """A spec checked against the catalogs, with every default filled in."""

    spec: ExperimentSpec
    task: TaskInfo
    base: dict[str, ParamValue]
    factors: list[Factor]
    direction: Direction

    @property
    def trick_factors(self) -> list[TrickFactor]:
        return [f for f in self.factors if isinstance(f, TrickFactor)]

    @property
    def level_factors(self) -> list[LevelFactor]:
        return [f for f in self.factors if isinstance(f, LevelFactor)]


class SpecError(ValueError):
    """A spec that does not fit the catalogs; ``errors`` name each bad field."""

    def __init__(self, errors: list[ParamError]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors))
        self.errors = errors


MINIMIZED_SUFFIXES = ("loss", "ece", "wall_time", "steps_to_target", "seconds_to_target")


def default_direction(metric: str) -> Direction:
    """Losses, calibration error and times are minimised; everything else maximised."""
    return "minimize" if metric.endswith(MINIMIZED_SUFFIXES) else "maximize"


def _resolve_factor(item: FactorItem, index: int, task: TaskInfo, errors: list[ParamError]) -> Factor | None:
    loc: tuple[str | int, ...] = ("factors", index)
    if isinstance(item, str):
        name, raw = item, None
    elif len(item) == 1:
        name, raw = next(iter(item.items()))
    else:
        errors.append(ParamError(loc, "a factor is a trick name or a one-key mapping {name: params or levels}"))
        return None
    if isinstance(raw, list):
        if name not in task.params:
            errors.append(ParamError((*loc, name), f"unknown base parameter of task {task.name}"))
            return None
        if len(raw) < 2:
            errors.append(ParamError((*loc, name), "a level factor needs at least two levels"))
            return None
        levels: list[ParamValue] = []
        for i, level in enumerate(raw):
            value, errs = coerce_param(task.params[name], level, (*loc, name, i))
            errors.extend(errs)
            levels.append(value)
        if len(set(map(repr, levels))) != len(levels):
            errors.append(ParamError((*loc, name), "levels must be distinct"))
        return LevelFactor(name=name, levels=levels)
    trick = TRICKS.get(name)
    if trick is None:
        known = ", ".join(TRICKS)
        errors.append(ParamError((*loc,), f"unknown trick {name!r} (known: {known})"))
        return None
    if task.kind not in trick.applies_to or (trick.inputs is not None and task.input not in trick.inputs):
        errors.append(ParamError((*loc, name), f"trick {name} does not apply to task {task.name} ({task.kind})"))
        return None
    try:
        params = validate_params(trick.params, raw, (*loc, name))
    except ParamValidationError as exc:
        errors.extend(exc.errors)
        return None
    for group in trick.one_of:
        given = [k for k in group if raw and raw.get(k) is not None]
        if len(given) > 1:
            errors.append(ParamError((*loc, name), f"give only one of {', '.join(group)}"))
    if name == "adversarial" and params["method"] not in task.adversarial_methods:
        allowed = ", ".join(task.adversarial_methods) or "none"
        errors.append(
            ParamError((*loc, name, "method"), f"method {params['method']} does not fit task {task.name} ({allowed})")
        )
    return TrickFactor(name=name, params=params)


def _conflicts(names: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1 :] if b in TRICKS[a].conflicts]


def design_errors(spec: ExperimentSpec, tricks: list[TrickFactor]) -> list[ParamError]:
    """Design-specific problems: an impossible fraction, an empty one-at-a-time design, bad custom combinations."""
    errors: list[ParamError] = []
    names = [f.name for f in tricks]
    if spec.resolution is not None and spec.design != "fractional":
        errors.append(ParamError(("resolution",), "resolution is only used by the fractional design"))
    if spec.design in ("leave_one_out", "add_one_in") and not names:
        errors.append(ParamError(("factors",), f"{spec.design} needs at least one trick factor"))
    if spec.design == "fractional" and spec.resolution is not None:
        for a, b in _conflicts(names):
            errors.append(ParamError(("factors",), f"a fractional design cannot hold conflicting tricks {a} and {b}"))
        try:
            fraction(len(names), spec.resolution)
        except FractionError as exc:
            errors.append(ParamError(("factors",) if len(names) < 3 else ("resolution",), str(exc)))
    if spec.design == "custom":
        seen: dict[frozenset[str], int] = {}
        for i, combo in enumerate(spec.combinations or []):
            for j, name in enumerate(combo):
                if name not in names:
                    known = ", ".join(names) or "none"
                    errors.append(ParamError(("combinations", i, j), f"{name!r} is not a trick factor ({known})"))
            if len(set(combo)) != len(combo):
                errors.append(ParamError(("combinations", i), "a trick is listed twice"))
            for a, b in _conflicts([n for n in dict.fromkeys(combo) if n in names]):
                errors.append(ParamError(("combinations", i), f"conflicting tricks {a} and {b}"))
            key = frozenset(combo)
            if key in seen:
                errors.append(ParamError(("combinations", i), f"same combination as combinations.{seen[key]}"))
            seen.setdefault(key, i)
    return errors


def resolve_spec(spec: ExperimentSpec) -> ResolvedSpec:
    """Check a spec against the task and trick catalogs; raise SpecError naming every bad field."""
    tasks = all_tasks()
    task = tasks.get(spec.task)
    if task is None:
        raise SpecError([ParamError(("task",), f"unknown task {spec.task!r} (known: {', '.join(tasks)})")])
    errors: list[ParamError] = []
    base: dict[str, ParamValue] = {}
    try:
        base = validate_params(task.params, spec.base, ("base",))
    except ParamValidationError as exc:
        errors.extend(exc.errors)
    factors: list[Factor] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(spec.factors):
        factor = _resolve_factor(item, i, task, errors)
        if factor is None:
            continue
        if factor.name in seen:
            errors.append(ParamError(("factors", i), f"factor {factor.name} is listed twice"))
            continue
        seen[factor.name] = i
        factors.append(factor)
    trick_names = {f.name for f in factors if isinstance(f, TrickFactor)}
    if spec.design in ("leave_one_out",):
        for name in sorted(trick_names):
            for other in TRICKS[name].conflicts:
                if other in trick_names and name < other:
                    errors.append(
                        ParamError(
                            ("factors",), f"conflicting tricks {name} and {other} cannot all be on in {spec.design}"
                        )
                    )
    if spec.design == "custom" and not spec.combinations:
        errors.append(ParamError(("combinations",), "a custom design lists its combinations"))
    if spec.design != "custom" and spec.combinations:
        errors.append(ParamError(("combinations",), "combinations are only used by the custom design"))
    if spec.design == "fractional" and spec.resolution is None:
        errors.append(ParamError(("resolution",), "a fractional design needs a resolution (3, 4 or 5)"))
    errors.extend(design_errors(spec, [f for f in factors if isinstance(f, TrickFactor)]))
    if spec.metric not in task.metrics and spec.metric not in ("val_accuracy", "val_loss", "train_loss"):
        errors.append(ParamError(("metric",), f"task {task.name} records no metric {spec.metric!r}"))
    if errors:
        raise SpecError(errors)
    return ResolvedSpec(
        spec=spec,
        task=task,
        base=base,
        factors=factors,
        direction=spec.direction or default_direction(spec.metric),
    )
