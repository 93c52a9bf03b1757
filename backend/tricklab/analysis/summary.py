"""Per-combination summaries and paired one-at-a-time comparisons of a final metric."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from tricklab.analysis.schemas import CombinationSummary, OneAtATimeRow
from tricklab.analysis.table import (
    FINISHED,
    Cell,
    RunRecord,
    RunTable,
    bootstrap_ci,
    bootstrap_cis,
    status_counts,
    value,
)
from tricklab.catalog.params import ParamValue


def level_key(levels: dict[str, ParamValue]) -> str:
    """A hashable identity of a level cell (levels may hold lists)."""
    return repr(sorted(levels.items(), key=lambda kv: kv[0]))


def _by_cell(table: RunTable) -> dict[str, list[RunRecord]]:
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for r in table.runs:
        groups[r.combo_key].append(r)
    return groups


def _mean(vals: np.ndarray) -> float | None:
    # plain Python on a few seeds' values: numpy's per-call overhead was most of a 8,192-cell summary
    return sum(vals.tolist()) / vals.size if vals.size else None


def _std(vals: np.ndarray) -> float | None:
    if vals.size < 2:
        return None
    xs = vals.tolist()
    mean = sum(xs) / len(xs)
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def summarize(table: RunTable, metric: str) -> list[CombinationSummary]:
    """n, mean, std and a bootstrap CI per combination, with every run's status counted."""
    groups = _by_cell(table)
    cells = table.ordered_cells()
    samples = [
        np.array([v for r in groups.get(c.key, []) if (v := value(r, metric)) is not None], dtype=float) for c in cells
    ]
    cis = bootstrap_cis(samples)
    out: list[CombinationSummary] = []
    for cell, vals, (lo, hi) in zip(cells, samples, cis, strict=True):
        runs = groups.get(cell.key, [])
        counts = status_counts(runs)
        finished = sum(counts[s] for s in FINISHED)
        out.append(
            CombinationSummary(
                key=cell.key,
                tricks=list(cell.tricks),
                levels=cell.levels,
                n=int(vals.size),
                n_runs=len(runs),
                mean=_mean(vals),
                std=_std(vals),
                ci_lo=lo,
                ci_hi=hi,
                counts=counts,
                divergence_rate=counts["diverged"] / finished if finished else None,
            )
        )
    return out


def _seed_values(runs: list[RunRecord], metric: str) -> dict[int, float]:
    return {r.seed: v for r in runs if (v := value(r, metric)) is not None}


def paired_row(
    *,
    trick: str,
    with_cell: Cell,
    without_cell: Cell,
    groups: dict[str, list[RunRecord]],
    metric: str,
    direction: str,
) -> OneAtATimeRow:
    """With minus without, paired by seed, with a bootstrap CI and the share of seeds that improve."""
    w = _seed_values(groups.get(with_cell.key, []), metric)
    wo = _seed_values(groups.get(without_cell.key, []), metric)
    seeds = sorted(set(w) & set(wo))
    diffs = np.array([w[s] - wo[s] for s in seeds], dtype=float)
    lo, hi = bootstrap_ci(diffs)
    p_improve = None
    if diffs.size:
        better = diffs if direction == "maximize" else -diffs
        p_improve = float((np.sum(better > 0) + 0.5 * np.sum(better == 0)) / diffs.size)
    return OneAtATimeRow(
        trick=trick,
        levels=with_cell.levels,
        with_key=with_cell.key,
        without_key=without_cell.key,
        n_pairs=int(diffs.size),
        with_mean=float(np.mean(list(w.values()))) if w else None,
        without_mean=float(np.mean(list(wo.values()))) if wo else None,
        mean_diff=float(diffs.mean()) if diffs.size else None,
        ci_lo=lo,
        ci_hi=hi,
        p_improve=p_improve,
    )


def one_at_a_time(table: RunTable, metric: str) -> list[OneAtATimeRow] | None:
    """leave_one_out: all-on vs all-on minus each trick; add_one_in: each trick alone vs base; per level cell."""
    if table.design not in ("leave_one_out", "add_one_in"):
        return None
    groups = _by_cell(table)
    index = {(frozenset(c.tricks), level_key(c.levels)): c for c in table.cells}
    level_cells = list(dict.fromkeys(level_key(c.levels) for c in table.cells))
    rows: list[OneAtATimeRow] = []
    everything = frozenset(table.trick_factors)
    for lk in level_cells:
        for trick in table.trick_factors:
            if table.design == "leave_one_out":
                with_set, without_set = everything, everything - {trick}
            else:
                with_set, without_set = frozenset({trick}), frozenset()
            with_cell, without_cell = index.get((with_set, lk)), index.get((without_set, lk))
            if with_cell is None or without_cell is None:
                continue
            rows.append(
                paired_row(
                    trick=trick,
                    with_cell=with_cell,
                    without_cell=without_cell,
                    groups=groups,
                    metric=metric,
                    direction=table.direction,
                )
            )
    return rows
