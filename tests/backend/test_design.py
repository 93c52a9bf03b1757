"""Designs: counts, exclusions, determinism, uniqueness, fractional resolution and aliasing."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pyDOE3
import pytest
from tricklab.analysis.fractional import fraction, min_base_factors
from tricklab.design import design_info, expand_design, run_configs
from tricklab.schemas.spec import ExperimentSpec, ResolvedSpec, SpecError, resolve_spec

FIVE = ["label_smoothing", "warmup", "dropout", "relu", "radam"]


def resolved(**kw: Any) -> ResolvedSpec:
    kw.setdefault("name", "t")
    kw.setdefault("task", "digits")
    return resolve_spec(ExperimentSpec(**kw))


def error_locs(**kw: Any) -> list[str]:
    with pytest.raises(SpecError) as exc:
        resolved(**kw)
    return [".".join(map(str, e.loc)) for e in exc.value.errors]


def keys(r: ResolvedSpec) -> list[str]:
    return [c.key for c in expand_design(r)]


def test_full_factorial_excludes_conflicts_and_crosses_levels() -> None:
    r = resolved(factors=["batch_norm", "group_norm", "warmup", {"lr": [0.01, 0.1, 0.5]}], seeds=2)
    combos = expand_design(r)
    assert len(combos) == 3 * (2**3 - 2)  # bn+gn and bn+gn+warmup excluded, x3 lr levels
    assert not any({"batch_norm", "group_norm"} <= set(c.tricks) for c in combos)
    assert [c.levels["lr"] for c in combos[:6]] == [0.01] * 6  # level cells are contiguous blocks
    assert len(run_configs(r)) == 36
    assert design_info(r).excluded == ["batch_norm+group_norm"]


def test_leave_one_out_all_on_then_each_removed() -> None:
    r = resolved(factors=["warmup", "dropout", "relu"], design="leave_one_out", seeds=3)
    assert keys(r) == ["dropout+relu+warmup", "dropout+relu", "relu+warmup", "dropout+warmup"]
    assert design_info(r).reference == "dropout+relu+warmup"
    assert len(run_configs(r)) == 12


def test_add_one_in_base_then_each_alone_per_level_cell() -> None:
    r = resolved(factors=["warmup", "dropout", {"lr": [0.01, 0.1]}], design="add_one_in", seeds=2)
    assert keys(r) == [
        "base|lr=0.01",
        "warmup|lr=0.01",
        "dropout|lr=0.01",
        "base|lr=0.1",
        "warmup|lr=0.1",
        "dropout|lr=0.1",
    ]
    assert design_info(r).reference == "base"
    # conflicts are fine here: the two normalizations are never on together
    assert len(keys(resolved(factors=["batch_norm", "group_norm"], design="add_one_in"))) == 3


def test_custom_design_keeps_given_order_and_factor_params() -> None:
    r = resolved(
        factors=["warmup", {"dropout": {"p": 0.3}}],
        design="custom",
        combinations=[["dropout", "warmup"], [], ["dropout"]],
    )
    combos = expand_design(r)
    assert [c.key for c in combos] == ["dropout+warmup", "base", "dropout"]
    assert combos[0].tricks["dropout"] == {"p": 0.3}
    assert list(combos[0].tricks) == ["warmup", "dropout"]


def test_custom_design_errors_name_the_combination() -> None:
    locs = error_locs(
        factors=["batch_norm", "group_norm", "warmup"],
        design="custom",
        combinations=[["warmup"], ["batch_norm", "group_norm"], ["radam"], ["warmup"], ["warmup", "warmup"]],
    )
    # the last one both repeats a trick and equals combinations.0
    assert locs == ["combinations.1", "combinations.2.0", "combinations.3", "combinations.4", "combinations.4"]
    assert error_locs(factors=["warmup"], design="custom") == ["combinations"]


@pytest.mark.parametrize("design", ["full", "fractional", "leave_one_out", "add_one_in"])
def test_every_design_is_deterministic_and_unique(design: str) -> None:
    kw: dict[str, Any] = {"factors": [*FIVE, {"lr": [0.01, 0.1]}], "design": design, "seeds": 3}
    if design == "fractional":
        kw["resolution"] = 4
    a, b = run_configs(resolved(**kw)), run_configs(resolved(**kw))
    assert [c.model_dump() for c in a] == [c.model_dump() for c in b]
    ids = [(c.combo_key, c.seed) for c in a]
    assert len(ids) == len(set(ids))
    n_combos = len(expand_design(resolved(**kw)))
    assert len(a) == n_combos * 3
    assert design_info(resolved(**kw)).n_runs == len(a)
    expected = {"full": 64, "fractional": 2 * 16, "leave_one_out": 12, "add_one_in": 12}[design]
    assert n_combos == expected


def test_fractional_2_5_1_resolution_v_alias_pattern() -> None:
    r = resolved(factors=FIVE, design="fractional", resolution=5)
    info = design_info(r)
    assert (info.resolution, info.resolution_label, info.n_combinations) == (5, "V", 16)
    assert info.generators == ["radam = label_smoothing:warmup:dropout:relu"]
    assert info.defining_relation == ["label_smoothing:warmup:dropout:relu:radam"]
    aliases = {a.effect: a.aliased_with for a in info.aliases}
    # every main effect is aliased with exactly one four-factor and every two-factor with one three-factor interaction
    assert aliases["warmup"] == ["label_smoothing:dropout:relu:radam"]
    assert aliases["label_smoothing:warmup"] == ["dropout:relu:radam"]
    assert len(aliases) == 5 + 10
    assert all(len(v) == 1 and len(v[0].split(":")) == 4 for k, v in aliases.items() if ":" not in k)
    assert all(len(v) == 1 and len(v[0].split(":")) == 3 for k, v in aliases.items() if ":" in k)
    # pyDOE3's own alias map of the same matrix agrees (letters a..e for the five factors)
    frac = fraction(5, 5)
    ref, _ = pyDOE3.fracfact_aliasing(frac.matrix)
    assert "a = bcde" in ref and "ab = cde" in ref
    combos = expand_design(r)
    switches = np.array([[name in c.tricks for name in FIVE] for c in combos])
    assert np.all(switches.sum(axis=1) % 2 == 1)  # I = +ABCDE: an even number of factors off


def test_fractional_matrix_is_orthogonal_and_has_the_stated_resolution() -> None:
    for res, n in itertools.product((3, 4, 5), range(3, 12)):
        if n < res:
            continue
        frac = fraction(n, res)
        m = frac.matrix
        assert m.shape == (2**frac.n_base, n)
        assert np.allclose(m.T @ m, np.eye(n) * len(m))
        assert frac.resolution >= res
        # the shortest word of the defining relation multiplies to a constant column
        shortest = min(frac.defining_relation, key=len)
        assert len(shortest) == frac.resolution
        assert np.unique(np.prod(m[:, sorted(shortest)], axis=1)).size == 1
    assert min_base_factors(7, 3) == 3 and min_base_factors(7, 4) == 4 and min_base_factors(7, 5) == 6


def test_fractional_resolution_iii_aliases_mains_with_two_way() -> None:
    info = design_info(resolved(factors=["warmup", "dropout", "relu"], design="fractional", resolution=3))
    assert (info.n_combinations, info.resolution) == (4, 3)
    assert {a.effect: a.aliased_with for a in info.aliases}["relu"] == ["warmup:dropout"]


def test_impossible_fractions_are_rejected_naming_the_field() -> None:
    assert error_locs(factors=["warmup", "dropout", "relu", "radam"], design="fractional", resolution=5) == [
        "resolution"
    ]
    assert error_locs(factors=["warmup", "dropout"], design="fractional", resolution=3) == ["factors"]
    assert "factors" in error_locs(factors=["batch_norm", "group_norm", "warmup"], design="fractional", resolution=3)
    assert error_locs(factors=FIVE, design="fractional") == ["resolution"]
    assert error_locs(factors=FIVE, design="full", resolution=4) == ["resolution"]
    assert error_locs(factors=[{"lr": [0.1, 0.2]}], design="leave_one_out") == ["factors"]
