"""Expanding a resolved spec into combinations (the design) and runs (x seeds).

Deterministic: the same spec always gives the same combinations in the same
order, so expansion is idempotent and the (experiment, combination, seed)
unique constraint holds.
"""

from __future__ import annotations

import itertools

from tricklab.catalog.tricks import TRICKS
from tricklab.schemas.run_config import Combination, RunConfig
from tricklab.schemas.spec import ResolvedSpec


def is_valid_trick_set(names: set[str]) -> bool:
    """True when no two tricks in ``names`` conflict."""
    return not any(other in names for name in names for other in TRICKS[name].conflicts)


def full_factorial(resolved: ResolvedSpec) -> list[Combination]:
    """Every on/off combination of the trick factors x every level of the level factors, conflicts excluded."""
    tricks = resolved.trick_factors
    levels = resolved.level_factors
    combos: list[Combination] = []
    for level_values in itertools.product(*(f.levels for f in levels)):
        level_map = {f.name: v for f, v in zip(levels, level_values, strict=True)}
        for switches in itertools.product((False, True), repeat=len(tricks)):
            on = {f.name: f.params for f, s in zip(tricks, switches, strict=True) if s}
            if is_valid_trick_set(set(on)):
                combos.append(Combination(tricks=on, levels=level_map))
    return combos


def expand_design(resolved: ResolvedSpec) -> list[Combination]:
    """The combinations a spec's design asks for."""
    design = resolved.spec.design
    if design == "full":
        return full_factorial(resolved)
    raise NotImplementedError(f"design {design}")


def run_configs(resolved: ResolvedSpec) -> list[RunConfig]:
    """One RunConfig per (combination, seed): seed s of every combination shares data split and init."""
    out: list[RunConfig] = []
    for combo in expand_design(resolved):
        base = {**resolved.base, **combo.levels}
        for seed in range(resolved.spec.seeds):
            out.append(
                RunConfig(
                    task=resolved.task.name,
                    base=base,
                    tricks=combo.tricks,
                    seed=seed,
                    metric=resolved.spec.metric,
                    combo_key=combo.key,
                )
            )
    return out
