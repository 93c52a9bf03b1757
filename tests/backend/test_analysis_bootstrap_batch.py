"""Vectorised bootstrap CIs: equal to scipy's percentile interval, batching-invariant, short samples None."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from tricklab.analysis.table import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_ci, bootstrap_cis


def _scipy_ci(v: np.ndarray) -> tuple[float, float]:
    res = stats.bootstrap(
        (v,),
        np.mean,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=0.95,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


@pytest.mark.parametrize("n", [2, 3, 5, 12])
def test_matches_scipy_percentile_bootstrap(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(5):
        v = rng.normal(size=n)
        lo, hi = bootstrap_ci(v)
        ref_lo, ref_hi = _scipy_ci(v)
        spread = float(np.ptp(v))
        # same index draw from the same seed: equal up to the summation order of the means
        assert lo == pytest.approx(ref_lo, abs=1e-9 * spread)
        assert hi == pytest.approx(ref_hi, abs=1e-9 * spread)


def test_batched_cis_equal_per_sample_cis() -> None:
    rng = np.random.default_rng(1)
    samples = [rng.normal(size=n) for n in (3, 3, 5, 3, 1, 0, 5, 2)]
    samples += [np.array([1.0, 1.0, 1.0]), np.array([1.0, np.nan, 2.0, 3.0]), np.array([np.inf, 2.0])]
    assert bootstrap_cis(samples) == [bootstrap_ci(s) for s in samples]
    assert bootstrap_cis([]) == []
    assert bootstrap_ci([1.0]) == (None, None)
    assert bootstrap_ci([2.0, 2.0]) == (2.0, 2.0)
