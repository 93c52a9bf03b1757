"""Batched bootstrap CIs equal one ``bootstrap_ci`` call per sample, degenerate and short samples included."""

from __future__ import annotations

import numpy as np
from tricklab.analysis.table import bootstrap_ci, bootstrap_cis


def test_batched_cis_equal_per_sample_cis() -> None:
    rng = np.random.default_rng(1)
    samples = [rng.normal(size=n) for n in (3, 3, 5, 3, 1, 0, 5, 2)]
    samples += [np.array([1.0, 1.0, 1.0]), np.array([1.0, np.nan, 2.0, 3.0]), np.array([np.inf, 2.0])]
    assert bootstrap_cis(samples) == [bootstrap_ci(s) for s in samples]
    assert bootstrap_cis([]) == []
