"""Curves on a common step grid: seed-mean bands per combination, paired difference curves, time to target."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from tricklab.analysis.schemas import CurveBand, DiffCurve, SpeedRow, SpeedTable
from tricklab.analysis.table import FINISHED, Cell, RunRecord
from tricklab.schemas.spec import Direction


@dataclass(frozen=True)
class Series:
    """One run's recorded values of one key; ``seconds`` since the run started, when known."""

    run_id: int
    steps: np.ndarray  # int, ascending
    values: np.ndarray  # float, NaN/inf where the run recorded a non-finite value
    seconds: np.ndarray | None = None


def common_grid(series: Sequence[Series], points: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Every recorded step when there are at most ``points``, else bucket edges of equal width.

    Returns (grid steps, bucket lower edges or None when the grid is exact).
    """
    arrays = [s.steps for s in series if s.steps.size]
    if not arrays:
        return np.zeros(0, dtype=np.int64), None
    uniq = np.unique(np.concatenate(arrays))
    if uniq.size <= points:
        return uniq, None
    lo, hi = int(uniq[0]), int(uniq[-1])
    edges = np.linspace(lo, hi + 1, points + 1)
    # label each non-empty bucket by the first step recorded in it, so the grid only shows real steps
    bucket = np.minimum(np.searchsorted(edges, uniq, side="right") - 1, points - 1)
    first = np.unique(bucket, return_index=True)[1]
    occupied = bucket[first]
    return uniq[first], edges[occupied]


def _truncate_at_divergence(values: np.ndarray) -> int:
    bad = np.flatnonzero(~np.isfinite(values))
    return int(bad[0]) if bad.size else values.size


def to_grid(s: Series, grid: np.ndarray, edges: np.ndarray | None) -> np.ndarray:
    """The run's values on the grid: bucket means, interpolated across gaps inside its own range, NaN outside."""
    out = np.full(grid.size, np.nan)
    stop = _truncate_at_divergence(s.values)
    steps, values = s.steps[:stop], s.values[:stop]
    if steps.size == 0 or grid.size == 0:
        return out
    if edges is None:
        idx = np.searchsorted(grid, steps)
        out[idx] = values
    else:
        idx = np.searchsorted(edges, steps, side="right") - 1
        sums = np.bincount(idx, weights=values, minlength=grid.size)
        counts = np.bincount(idx, minlength=grid.size)
        has = counts > 0
        out[has] = sums[has] / counts[has]
    fill_gaps(out, grid)
    return out


def fill_gaps(row: np.ndarray, grid: np.ndarray) -> None:
    """Interpolate (in place) the NaN entries between a run's first and last known grid values."""
    known = np.flatnonzero(np.isfinite(row))
    if known.size == 0:
        return
    first, last = known[0], known[-1]
    gap = np.arange(first, last + 1)
    gap = gap[~np.isfinite(row[gap])]
    if gap.size:
        row[gap] = np.interp(grid[gap], grid[known], row[known])


@functools.cache
def _t975(df: int) -> float:
    return float(stats.t.ppf(0.975, df))


def t975(df: np.ndarray) -> np.ndarray:
    """``stats.t.ppf(0.975, df)`` elementwise for integer degrees of freedom, each distinct one computed once.

    A 1,024-run page asks for 256 bands of ~63 columns with only a few distinct counts: scipy's
    per-call overhead was half the time of the bands (issue 7). Same values as the array call.
    """
    uniq, inverse = np.unique(df, return_inverse=True)
    return np.array([_t975(int(d)) for d in uniq.tolist()], dtype=float)[inverse.reshape(df.shape)]


def band(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise mean, 95% t-interval and count over the finite entries (rows are seeds or pairs)."""
    finite = np.isfinite(matrix)
    n = finite.sum(axis=0)
    filled = np.where(finite, matrix, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / n
        dev = np.where(finite, matrix - mean, 0.0)
        sd = np.sqrt((dev**2).sum(axis=0) / (n - 1))
        t = t975(np.maximum(n - 1, 1))
        half = np.where(n > 1, t * sd / np.sqrt(n), 0.0)
    mean = np.where(n > 0, mean, np.nan)
    return mean, mean - half, mean + half, n


def _level(c: Cell) -> str:
    return repr(sorted(c.levels.items()))


def _json(a: np.ndarray) -> Any:
    """The array as (nested) lists of floats with None where it is not finite (JSON has no NaN).

    One ``tolist`` and a patch of the few non-finite entries: a per-value comprehension over a
    large page's 3 x 256 x 63 band values was the biggest part of building its bands (issue 7).
    """
    out = a.tolist()
    for index in np.argwhere(~np.isfinite(a)).tolist():
        *outer, last = index
        row = out
        for k in outer:
            row = row[k]
        row[last] = None
    return out


def curve_bands(
    cells: Sequence[Cell], runs: Sequence[RunRecord], series: dict[int, Series], points: int
) -> tuple[list[CurveBand], np.ndarray, np.ndarray, dict[int, int]]:
    """Seed-mean bands per combination; also the grid, the per-run grid matrix and run id -> matrix row."""
    grid, edges = common_grid(list(series.values()), points)
    row_of = {rid: i for i, rid in enumerate(series)}
    matrix = np.full((len(series), grid.size), np.nan)
    for rid, s in series.items():
        matrix[row_of[rid]] = to_grid(s, grid, edges)
    return bands_on_grid(cells, runs, grid, matrix, row_of), grid, matrix, row_of


def bands_on_grid(
    cells: Sequence[Cell], runs: Sequence[RunRecord], grid: np.ndarray, matrix: np.ndarray, row_of: dict[int, int]
) -> list[CurveBand]:
    """Seed-mean bands per combination from runs already put on a common grid (one matrix row per run)."""
    by_cell: dict[str, list[int]] = {}
    for r in runs:
        if r.run_id in row_of:
            by_cell.setdefault(r.combo_key, []).append(row_of[r.run_id])
    mean, lo, hi, n = bands(matrix, [by_cell.get(c.key, []) for c in cells])
    steps = [int(x) for x in grid.tolist()]
    counts, means, los, his = n.tolist(), _json(mean), _json(lo), _json(hi)
    # built without validation: every field has its declared type by construction, and validating
    # 256 bands of ~5 x 63 values was a visible part of a large page's curves request (issue 7)
    return [
        CurveBand.model_construct(
            key=cell.key,
            tricks=list(cell.tricks),
            levels=cell.levels,
            steps=steps,
            mean=means[i],
            lo=los[i],
            hi=his[i],
            n=counts[i],
        )
        for i, cell in enumerate(cells)
    ]


def bands(matrix: np.ndarray, groups: Sequence[Sequence[int]]) -> tuple[np.ndarray, ...]:
    """``band`` of each group of matrix rows at once: (mean, lo, hi, n), one row per group.

    One pass over all groups instead of 256 small ones per large page (issue 7). Sums add the
    groups' j-th rows for j = 0, 1, ... as ``band``'s column sums do, so the numbers are the same
    to the last bit (numpy's reduceat adds in another order).
    """
    width = matrix.shape[1]
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    stacked = matrix[np.fromiter((i for g in groups for i in g), dtype=np.int64, count=int(sizes.sum()))]
    starts = np.cumsum(sizes) - sizes
    # row of the stacked matrix holding group g's j-th row, for the groups that have one
    nth = [(sizes > j, starts[sizes > j] + j) for j in range(int(sizes.max(initial=0)))]

    def column_sums(values: np.ndarray) -> np.ndarray:
        out = np.zeros((len(groups), width), dtype=values.dtype)
        for j, (has, rows) in enumerate(nth):
            out[has] = values[rows] if j == 0 else out[has] + values[rows]
        return out

    finite = np.isfinite(stacked)
    n = column_sums(finite.astype(np.int64))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = column_sums(np.where(finite, stacked, 0.0)) / n
        dev = np.where(finite, stacked - np.repeat(mean, sizes, axis=0), 0.0)
        sd = np.sqrt(column_sums(dev**2) / (n - 1))
        t = t975(np.maximum(n - 1, 1))
        half = np.where(n > 1, t * sd / np.sqrt(n), 0.0)
    mean = np.where(n > 0, mean, np.nan)
    return mean, mean - half, mean + half, n


def diff_curve(
    trick: str,
    cells: Sequence[Cell],
    runs: Sequence[RunRecord],
    grid: np.ndarray,
    matrix: np.ndarray,
    row_of: dict[int, int],
) -> DiffCurve:
    """With minus without the trick, pairing same-seed runs of cells that differ only in it."""
    by_cell_seed = {(r.combo_key, r.seed): row_of[r.run_id] for r in runs if r.run_id in row_of}
    index = {(frozenset(c.tricks), _level(c)): c.key for c in cells}
    seeds = sorted({r.seed for r in runs})
    diffs: list[np.ndarray] = []
    for c in cells:
        if trick in c.tricks:
            continue
        partner = index.get((frozenset(c.tricks) | {trick}, _level(c)))
        if partner is None:
            continue
        for s in seeds:
            a, b = by_cell_seed.get((partner, s)), by_cell_seed.get((c.key, s))
            if a is not None and b is not None:
                diffs.append(matrix[a] - matrix[b])
    stacked = np.vstack(diffs) if diffs else np.full((0, grid.size), np.nan)
    mean, lo, hi, n = band(stacked)
    return DiffCurve(
        trick=trick,
        steps=[int(x) for x in grid.tolist()],
        mean=_json(mean),
        lo=_json(lo),
        hi=_json(hi),
        n=[int(x) for x in n.tolist()],
        n_pairs=int(np.any(np.isfinite(stacked), axis=1).sum()),
    )


def first_reach(s: Series, target: float, direction: str) -> tuple[float, float]:
    """(steps, seconds) until the series first reaches the target; infinity when it never does."""
    v = s.values
    hit = np.flatnonzero(np.isfinite(v) & ((v >= target) if direction == "maximize" else (v <= target)))
    if not hit.size:
        return math.inf, math.inf
    i = int(hit[0])
    return float(s.steps[i]), float(s.seconds[i]) if s.seconds is not None else math.nan


def _median(x: list[float]) -> float | None:
    if not x:
        return None
    m = float(np.median(x))
    return m if math.isfinite(m) else None


def speed_table(
    *,
    cells: Sequence[Cell],
    runs: Sequence[RunRecord],
    series: dict[int, Series],
    curve_key: str,
    target: float,
    direction: Direction,
    reference: tuple[str, ...] | None,
) -> SpeedTable:
    """Median steps/seconds to target per combination (never reaching = infinity); speedup vs the reference tricks.

    The reference is looked up in each combination's own level cell.
    """
    per_cell: dict[str, list[tuple[float, float]]] = {}
    for r in runs:
        s = series.get(r.run_id)
        reached = first_reach(s, target, direction) if s is not None else (math.inf, math.inf)
        # a run still going (or stopped by a person) that has not reached the target yet says nothing either way
        if math.isinf(reached[0]) and r.status not in FINISHED:
            continue
        per_cell.setdefault(r.combo_key, []).append(reached)
    medians: dict[str, tuple[float | None, float | None]] = {}
    rows: list[SpeedRow] = []
    for c in cells:
        got = per_cell.get(c.key, [])
        med_steps = _median([g[0] for g in got])
        med_secs = _median([g[1] for g in got]) if all(not math.isnan(g[1]) for g in got) else None
        medians[c.key] = (med_steps, med_secs)
        rows.append(
            SpeedRow(
                key=c.key,
                n_runs=len(got),
                n_reached=sum(1 for g in got if math.isfinite(g[0])),
                median_steps=med_steps,
                median_seconds=med_secs,
                speedup=None,
                speedup_seconds=None,
            )
        )
    ref_key: dict[str, str] = {}
    if reference is not None:
        ref_key = {_level(c): c.key for c in cells if frozenset(c.tricks) == frozenset(reference)}
    for row, c in zip(rows, cells, strict=True):
        ref_steps, ref_secs = medians.get(ref_key.get(_level(c), ""), (None, None))
        if ref_steps is not None and row.median_steps:
            row.speedup = ref_steps / row.median_steps
        if ref_secs is not None and row.median_seconds:
            row.speedup_seconds = ref_secs / row.median_seconds
    label = None if reference is None else ("+".join(sorted(reference)) or "base")
    return SpeedTable(curve_key=curve_key, target=target, direction=direction, reference=label, rows=rows)
