"""Summaries, effects and paired comparisons against hand-computed, statsmodels and scipy references."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.anova import anova_lm
from tricklab.analysis.effects import fit_effects
from tricklab.analysis.summary import one_at_a_time, summarize
from tricklab.analysis.table import Cell, RunRecord, RunTable, bootstrap_ci


def make_table(
    tricks: list[str],
    fn,  # type: ignore[no-untyped-def]
    seeds: int,
    *,
    sets: list[tuple[str, ...]] | None = None,
    design: str = "full",
    direction: str = "maximize",
    levels: dict[str, list[float]] | None = None,
) -> RunTable:
    """A synthetic run table: value = fn(on-set, levels, seed)."""
    levels = levels or {}
    sets = (
        sets
        if sets is not None
        else [
            tuple(t for t, s in zip(tricks, sw, strict=True) if s)
            for sw in itertools.product((False, True), repeat=len(tricks))
        ]
    )
    cells: list[Cell] = []
    runs: list[RunRecord] = []
    for lv in itertools.product(*levels.values()):
        lmap = dict(zip(levels, lv, strict=True))
        for on in sets:
            key = ("+".join(sorted(on)) or "base") + (
                "|" + ",".join(f"{k}={v}" for k, v in lmap.items()) if lmap else ""
            )
            cells.append(Cell(key, on, lmap))
            for s in range(seeds):
                runs.append(RunRecord(len(runs) + 1, key, on, lmap, s, "succeeded", {"acc": fn(set(on), lmap, s)}))
    return RunTable(runs, cells, tricks, levels, direction, design)  # type: ignore[arg-type]


def test_main_effects_and_interaction_on_a_2_cubed_design_match_hand_computation() -> None:
    # y = 10 + 2*A(on) + 1*B(on) + 3*A*B(on), C nothing; one replicate
    def f(on: set[str], _l: object, _s: int) -> float:
        return 10 + 2 * ("A" in on) + 1 * ("B" in on) + 3 * ("A" in on and "B" in on)

    table = make_table(["A", "B", "C"], f, seeds=2)
    mains, inters, model = fit_effects(table, "acc")
    est = {e.term: e.estimate for e in mains + inters}
    # by hand: mean(A on) = (12 + 16)/2 = 14, mean(A off) = (10 + 11)/2 = 10.5 -> 3.5
    assert est["A"] == pytest.approx(3.5)
    assert est["B"] == pytest.approx(2.5)  # (11 + 16)/2 - (10 + 12)/2
    assert est["C"] == pytest.approx(0.0, abs=1e-12)
    assert est["A:B"] == pytest.approx(3.0)  # A's effect with B on (5) - with B off (2)
    assert est["A:C"] == pytest.approx(0.0, abs=1e-12)
    assert model is not None and model.r_squared == pytest.approx(1.0)


def noisy_table(seed: int = 1, seeds: int = 4) -> RunTable:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 0.01, size=10_000)
    counter = itertools.count()

    def f(on: set[str], lv: dict[str, float], _s: int) -> float:
        return 0.8 + 0.05 * ("A" in on) + 0.02 * ("A" in on and "C" in on) + 0.1 * lv["lr"] + noise[next(counter)]

    return make_table(["A", "B", "C"], f, seeds, levels={"lr": [0.01, 0.1, 0.5]})


def test_effects_match_statsmodels_formula_ols_and_anova() -> None:
    table = noisy_table()
    mains, inters, model = fit_effects(table, "acc")
    df = pd.DataFrame(
        [
            {"y": r.metrics["acc"], **{f"t{t}": 1 if t in r.tricks else -1 for t in "ABC"}, "lr": str(r.levels["lr"])}
            for r in table.runs
        ]
    )
    formula = "y ~ (tA + tB + tC)**2 + C(lr, Sum) + (tA + tB + tC):C(lr, Sum)"
    ref = smf.ols(formula, df).fit()
    by = {e.term: e for e in mains + inters}
    for t in "ABC":
        assert by[t].estimate == pytest.approx(2 * ref.params[f"t{t}"], rel=1e-9)
        assert by[t].p_value == pytest.approx(ref.pvalues[f"t{t}"], rel=1e-6)
        lo, hi = ref.conf_int().loc[f"t{t}"]
        assert (by[t].ci_lo, by[t].ci_hi) == (pytest.approx(2 * lo), pytest.approx(2 * hi))
    assert by["A:C"].estimate == pytest.approx(4 * ref.params["tA:tC"], rel=1e-9)
    assert by["A:C"].p_value == pytest.approx(ref.pvalues["tA:tC"], rel=1e-6)
    # one-df terms: the t-test p-value is the type-II ANOVA F-test p-value
    anova = anova_lm(ref, typ=2)
    assert by["B:C"].p_value == pytest.approx(anova.loc["tB:tC", "PR(>F)"], rel=1e-6)
    assert model is not None and model.df_resid == int(ref.df_resid)
    assert model.r_squared == pytest.approx(ref.rsquared)
    # level contrast: marginal mean at lr=0.5 minus at lr=0.01 is 0.1 * 0.49
    assert by["lr=0.5"].estimate == pytest.approx(0.049, abs=0.01)
    assert by["A:C"].improves is True and by["B"].improves is False


def test_planted_effect_is_recovered_with_cis() -> None:
    rng = np.random.default_rng(7)

    def f(on: set[str], _l: object, _s: int) -> float:
        return 0.9 + 0.05 * ("A" in on) + rng.normal(0, 0.01)

    mains, inters, _ = fit_effects(make_table(["A", "B"], f, seeds=5), "acc")
    by = {e.term: e for e in mains + inters}
    assert by["A"].ci_lo is not None and by["A"].ci_hi is not None
    assert by["A"].ci_lo < 0.05 < by["A"].ci_hi and by["A"].p_value is not None and by["A"].p_value < 1e-6
    assert by["B"].ci_lo is not None and by["B"].ci_hi is not None
    assert by["B"].ci_lo < 0 < by["B"].ci_hi


def test_conflicting_pair_interaction_is_not_estimable() -> None:
    sets = [(), ("bn",), ("gn",), ("w",), ("bn", "w"), ("gn", "w")]
    table = make_table(["bn", "gn", "w"], lambda on, _l, s: 1.0 + 0.1 * ("w" in on) + 0.01 * s, 3, sets=sets)
    _, inters, _ = fit_effects(table, "acc")
    by = {e.term: e for e in inters}
    assert by["bn:gn"].estimable is False and by["bn:gn"].estimate is None
    assert by["bn:w"].estimable is True


def test_summary_counts_failures_and_matches_scipy_bootstrap() -> None:
    table = make_table(["A"], lambda on, _l, s: 0.5 + 0.1 * s + 0.2 * ("A" in on), 4)
    runs = table.runs
    runs[0] = RunRecord(1, "base", (), {}, 0, "diverged", {"acc": float("nan")})
    runs.append(RunRecord(99, "base", (), {}, 4, "failed", {}))
    runs.append(RunRecord(100, "base", (), {}, 5, "running", {}))
    base, a = summarize(table, "acc")
    assert (base.n, base.n_runs) == (3, 6)
    assert base.counts == {"queued": 0, "running": 1, "succeeded": 3, "failed": 1, "diverged": 1, "cancelled": 0}
    assert base.divergence_rate == pytest.approx(1 / 5)
    vals = np.array([0.6, 0.7, 0.8])
    assert base.mean == pytest.approx(0.7) and base.std == pytest.approx(np.std(vals, ddof=1))
    ref = stats.bootstrap(
        (vals,), np.mean, n_resamples=2000, method="percentile", vectorized=True, rng=np.random.default_rng(0)
    )
    assert (base.ci_lo, base.ci_hi) == (ref.confidence_interval.low, ref.confidence_interval.high)
    assert a.n == 4 and a.mean == pytest.approx(0.85)
    assert bootstrap_ci([0.3]) == (None, None) and bootstrap_ci([0.3, 0.3]) == (0.3, 0.3)


def test_leave_one_out_paired_differences_respect_direction() -> None:
    sets = [("A", "B"), ("B",), ("A",)]

    # removing A costs 0.1 on seeds 0-3 and gains 0.02 on seed 4; removing B changes nothing
    def f(on: set[str], _l: object, s: int) -> float:
        return 0.5 + s * 0.01 + (("A" in on) * (0.1 if s < 4 else -0.02))

    table = make_table(["A", "B"], f, 5, sets=sets, design="leave_one_out")
    rows = {r.trick: r for r in one_at_a_time(table, "acc") or []}
    a = rows["A"]
    assert (a.with_key, a.without_key, a.n_pairs) == ("A+B", "B", 5)
    assert a.mean_diff == pytest.approx((0.4 - 0.02) / 5)
    assert a.p_improve == pytest.approx(0.8)
    ref = stats.bootstrap(
        (np.array([0.1, 0.1, 0.1, 0.1, -0.02]),),
        np.mean,
        n_resamples=2000,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(0),
    )
    assert a.ci_lo == pytest.approx(ref.confidence_interval.low)
    assert rows["B"].p_improve == pytest.approx(0.5)  # all ties
    table.direction = "minimize"
    assert {r.trick: r for r in one_at_a_time(table, "acc") or []}["A"].p_improve == pytest.approx(0.2)


def test_effects_over_24k_runs_fit_every_term() -> None:
    # Speed is measured in benchmarks/, never asserted here.
    tricks = [f"t{i}" for i in range(10)]
    rng = np.random.default_rng(0)
    sets = [tuple(t for t, s in zip(tricks, sw, strict=True) if s) for sw in itertools.product((0, 1), repeat=10)]
    cells = [Cell("+".join(s) or "base", s, {}) for s in sets]
    runs = [
        RunRecord(i, c.key, c.tricks, {}, seed, "succeeded", {"acc": float(rng.normal())})
        for i, (c, seed) in enumerate(itertools.product(cells, range(24)))
    ]
    table = RunTable(runs, cells, tricks)
    mains, inters, model = fit_effects(table, "acc")
    assert len(runs) == 24_576 and len(mains) == 10 and len(inters) == 45
    assert model is not None and model.n_obs == 24_576


def test_effects_fit_on_one_blas_thread_is_the_fit_and_leaves_the_threads_as_they_were() -> None:
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]
    from tricklab.analysis.effects import _fit_effects

    rng = np.random.default_rng(11)
    tricks = [f"t{i}" for i in range(6)]

    def f(on: set[str], _l: object, _s: int) -> float:
        return 0.8 + 0.01 * len(on) + 0.02 * ("t1" in on and "t4" in on) + rng.normal(0, 0.01)

    table = make_table(tricks, f, seeds=3)
    before = [i["num_threads"] for i in threadpool_info()]
    limited = fit_effects(table, "acc")
    assert [i["num_threads"] for i in threadpool_info()] == before
    unlimited = _fit_effects(table, "acc", None)
    for a, b in zip(limited[0] + limited[1], unlimited[0] + unlimited[1], strict=True):
        assert a.term == b.term and a.estimate == pytest.approx(b.estimate, rel=1e-12, abs=1e-15)
        assert a.std_error == pytest.approx(b.std_error, rel=1e-12)
