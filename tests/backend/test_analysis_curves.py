"""Curve bands, grids, difference curves and time to target, against numpy/scipy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from tricklab.analysis.curves import (
    Series,
    _json,
    band,
    bands,
    common_grid,
    curve_bands,
    diff_curve,
    first_reach,
    t975,
    to_grid,
)
from tricklab.analysis.table import Cell, RunRecord


def test_band_matches_a_t_interval_and_handles_one_seed() -> None:
    m = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, np.nan], [5.0, np.nan, np.nan]])
    mean, lo, hi, n = band(m)
    ref = stats.t.interval(0.95, 2, loc=3.0, scale=stats.sem([1.0, 3.0, 5.0]))
    assert mean[0] == 3.0 and (lo[0], hi[0]) == (pytest.approx(ref[0]), pytest.approx(ref[1]))
    assert (mean[1], lo[1], hi[1], n[1]) == (2.0, 2.0, 2.0, 1)
    assert math.isnan(mean[2]) and n[2] == 0


def test_bands_of_all_groups_at_once_are_band_per_group_exactly() -> None:
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(60, 40)) * 10.0 ** rng.integers(-8, 8, size=(60, 40))
    matrix[rng.random(matrix.shape) < 0.2] = np.nan  # gaps, ends of shorter runs
    matrix[:, 5] = np.nan
    matrix[3, :] = -0.0
    order = rng.permutation(60).tolist()
    groups: list[list[int]] = [[], order[:1], []]
    while len(order) > 1:
        k = int(rng.integers(1, 7))
        groups.append(order[:k])
        order = order[k:]
    got = bands(matrix, groups)
    for i, g in enumerate(groups):
        ref = band(matrix[g]) if g else band(np.full((0, 40), np.nan))
        for a, b in zip(got, ref, strict=True):
            np.testing.assert_array_equal(a[i], b)
            assert np.signbit(a[i]).tolist() == np.signbit(b).tolist()
    empty = bands(np.zeros((0, 4)), [[], []])
    assert empty[3].tolist() == [[0] * 4] * 2 and np.isnan(empty[0]).all()


def test_t_quantiles_are_scipys_array_call_exactly() -> None:
    df = np.array([[3, 1, 3], [2000, 5, 1]])
    assert t975(df).shape == df.shape and t975(df).tolist() == stats.t.ppf(0.975, df).tolist()
    every = np.arange(1, 1500)
    assert np.array_equal(t975(every), stats.t.ppf(0.975, every))


def test_exact_grid_and_bucket_grid() -> None:
    a = Series(1, np.arange(0, 10), np.arange(10, dtype=float))
    b = Series(2, np.arange(0, 10, 2), np.arange(0, 10, 2, dtype=float) * 2)
    grid, edges = common_grid([a, b], 100)
    assert edges is None and grid.tolist() == list(range(10))
    # b has no point at odd steps: interpolated inside its range
    assert to_grid(b, grid, edges)[1] == pytest.approx(2.0)
    assert math.isnan(to_grid(b, grid, edges)[9])  # past its last step
    grid, edges = common_grid([a], 5)
    assert grid.tolist() == [0, 2, 4, 6, 8]
    assert to_grid(a, grid, edges).tolist() == [0.5, 2.5, 4.5, 6.5, 8.5]  # bucket means


def test_divergence_truncates_the_curve() -> None:
    s = Series(1, np.arange(4), np.array([1.0, 2.0, np.inf, 1.0]))
    assert to_grid(s, np.arange(4), None)[:2].tolist() == [1.0, 2.0]
    assert np.isnan(to_grid(s, np.arange(4), None)[2:]).all()


def test_first_reach_respects_direction_and_never() -> None:
    s = Series(1, np.array([0, 10, 20]), np.array([0.5, 0.2, 0.1]), np.array([0.0, 1.5, 3.0]))
    assert first_reach(s, 0.2, "minimize") == (10.0, 1.5)
    assert first_reach(s, 0.9, "maximize") == (math.inf, math.inf)


def test_1024_runs_x_1000_steps_aggregate_to_bands() -> None:
    # Speed is measured in benchmarks/, never asserted here.
    rng = np.random.default_rng(0)
    cells = [Cell(f"c{i}", (f"t{i % 8}",) if i % 2 else (), {}) for i in range(256)]
    runs = [RunRecord(i, cells[i // 4].key, cells[i // 4].tricks, {}, i % 4, "succeeded", {}) for i in range(1024)]
    steps = np.arange(1000)
    series = {i: Series(i, steps, rng.normal(size=1000)) for i in range(1024)}
    bands, grid, matrix, row_of = curve_bands(cells, runs, series, 200)
    assert len(bands) == 256 and len(grid) == 200 and all(b.n[0] == 4 for b in bands)
    assert bands[0].mean[0] == pytest.approx(np.mean([series[i].values[:5].mean() for i in range(4)]))
    diff = diff_curve("t1", cells, runs, grid, matrix, row_of)
    assert len(diff.steps) == 200


def test_json_lists_have_none_where_not_finite() -> None:
    assert _json(np.array([1.5, np.nan, -np.inf, 0.0])) == [1.5, None, None, 0.0]
    assert _json(np.array([[1.0, np.nan], [np.inf, 2.0]])) == [[1.0, None], [None, 2.0]]
    assert _json(np.zeros((0, 3))) == []
