"""Expanding a resolved spec into combinations (the design) and runs (x seeds).

Deterministic: the same spec always gives the same combinations in the same
order, so expansion is idempotent and the (experiment, combination, seed)
unique constraint holds. Level factors (base hyperparameters with listed
levels) cross every design: the trick design is repeated in each level cell.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from tricklab.analysis.fractional import ROMAN, Fraction, FractionError, fraction
from tricklab.analysis.schemas import Alias, DesignInfo
from tricklab.catalog.params import ParamError, ParamValue
from tricklab.catalog.tricks import TRICKS
from tricklab.schemas.run_config import Combination, RunConfig
from tricklab.schemas.spec import ResolvedSpec, SpecError, TrickFactor, design_errors


def is_valid_trick_set(names: set[str]) -> bool:
    """True when no two tricks in ``names`` conflict."""
    return not any(other in names for name in names for other in TRICKS[name].conflicts)


def conflicting_pairs(names: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs among ``names`` that the catalog forbids together, in the given order."""
    ordered = list(names)
    return [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :] if b in TRICKS[a].conflicts]


def _level_cells(resolved: ResolvedSpec) -> list[dict[str, ParamValue]]:
    levels = resolved.level_factors
    return [
        {f.name: v for f, v in zip(levels, values, strict=True)}
        for values in itertools.product(*(f.levels for f in levels))
    ]


def _cross(resolved: ResolvedSpec, trick_sets: list[list[TrickFactor]]) -> list[Combination]:
    """Every trick set in every level cell; level cells outermost so each cell is one block of the design."""
    return [
        Combination(tricks={f.name: f.params for f in tricks}, levels=cell)
        for cell in _level_cells(resolved)
        for tricks in trick_sets
    ]


def full_factorial(resolved: ResolvedSpec) -> list[Combination]:
    """Every on/off combination of the trick factors x every level of the level factors, conflicts excluded."""
    tricks = resolved.trick_factors
    sets = [
        [f for f, s in zip(tricks, switches, strict=True) if s]
        for switches in itertools.product((False, True), repeat=len(tricks))
    ]
    return _cross(resolved, [s for s in sets if is_valid_trick_set({f.name for f in s})])


def fractional_design(resolved: ResolvedSpec) -> tuple[Fraction, list[Combination]]:
    """The smallest two-level fraction of the trick factors at the spec's resolution, crossed with the levels."""
    tricks = resolved.trick_factors
    pairs = conflicting_pairs(f.name for f in tricks)
    if pairs:
        a, b = pairs[0]
        raise SpecError([ParamError(("factors",), f"a fractional design cannot hold conflicting tricks {a} and {b}")])
    try:
        frac = fraction(len(tricks), resolved.spec.resolution or 3)
    except FractionError as exc:
        loc = ("factors",) if len(tricks) < 3 else ("resolution",)
        raise SpecError([ParamError(loc, str(exc))]) from exc
    sets = [[f for f, x in zip(tricks, row, strict=True) if x > 0] for row in frac.matrix]
    return frac, _cross(resolved, sets)


def leave_one_out(resolved: ResolvedSpec) -> list[Combination]:
    """All tricks on, then each one removed (k+1 per level cell)."""
    tricks = resolved.trick_factors
    pairs = conflicting_pairs(f.name for f in tricks)
    if pairs:
        a, b = pairs[0]
        raise SpecError([ParamError(("factors",), f"conflicting tricks {a} and {b} cannot all be on in leave_one_out")])
    return _cross(resolved, [list(tricks)] + [[f for f in tricks if f is not drop] for drop in tricks])


def add_one_in(resolved: ResolvedSpec) -> list[Combination]:
    """The base, then each trick alone (k+1 per level cell)."""
    tricks = resolved.trick_factors
    return _cross(resolved, [[]] + [[f] for f in tricks])


def custom_design(resolved: ResolvedSpec) -> list[Combination]:
    """The spec's explicit combinations, in the order given (tricks in factor order), crossed with the levels."""
    errors = design_errors(resolved.spec, resolved.trick_factors)
    if errors:
        raise SpecError(errors)
    order = resolved.trick_factors
    sets = [[f for f in order if f.name in names] for names in resolved.spec.combinations or []]
    return _cross(resolved, sets)


def expand_design(resolved: ResolvedSpec) -> list[Combination]:
    """The combinations a spec's design asks for."""
    design = resolved.spec.design
    if design == "full":
        return full_factorial(resolved)
    if design == "fractional":
        return fractional_design(resolved)[1]
    if design == "leave_one_out":
        return leave_one_out(resolved)
    if design == "add_one_in":
        return add_one_in(resolved)
    return custom_design(resolved)


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


def reference_tricks(resolved: ResolvedSpec) -> list[str]:
    """The trick set paired comparisons refer to: all on for leave_one_out, none otherwise."""
    if resolved.spec.design == "leave_one_out":
        return [f.name for f in resolved.trick_factors]
    return []


def effect_name(names: Iterable[str]) -> str:
    """``warmup:radam``: factor names joined in factor order, as in statsmodels formulas."""
    return ":".join(names)


def _alias_info(frac: Fraction, names: list[str]) -> tuple[list[str], list[str], list[Alias]]:
    def word(w: Iterable[int]) -> str:
        return effect_name(names[i] for i in sorted(w))

    generators = [f"{names[frac.n_base + j]} = {word(g)}" for j, g in enumerate(frac.generators)]
    relation = [word(w) for w in sorted(frac.defining_relation, key=lambda w: (len(w), sorted(w)))]
    aliases: list[Alias] = []
    for order in (1, 2):
        for combo in itertools.combinations(range(len(names)), order):
            others = frac.aliases_of(frozenset(combo), max_order=4)
            if others:
                aliases.append(Alias(effect=word(combo), aliased_with=[word(a) for a in others]))
    return generators, relation, aliases


def design_info(resolved: ResolvedSpec) -> DesignInfo:
    """Name, resolution, generators, alias structure and size of a spec's design."""
    names = [f.name for f in resolved.trick_factors]
    generators: list[str] = []
    relation: list[str] = []
    aliases: list[Alias] = []
    resolution: int | None = None
    if resolved.spec.design == "fractional":
        frac, combos = fractional_design(resolved)
        resolution = frac.resolution
        generators, relation, aliases = _alias_info(frac, names)
    else:
        combos = expand_design(resolved)
    excluded = [f"{a}+{b}" for a, b in conflicting_pairs(names)] if resolved.spec.design == "full" else []
    ref = reference_tricks(resolved)
    has_ref = resolved.spec.design in ("leave_one_out", "add_one_in") or any(set(c.tricks) == set(ref) for c in combos)
    return DesignInfo(
        design=resolved.spec.design,
        resolution=resolution,
        resolution_label=ROMAN.get(resolution) if resolution else None,
        factors=[f.name for f in resolved.factors],
        trick_factors=names,
        level_factors={f.name: f.levels for f in resolved.level_factors},
        generators=generators,
        defining_relation=relation,
        aliases=aliases,
        reference=("+".join(sorted(ref)) or "base") if has_ref else None,
        n_combinations=len(combos),
        n_runs=len(combos) * resolved.spec.seeds,
        excluded=excluded,
    )
