"""Main effects and two-way interactions from one OLS fit over the design (statsmodels).

Tricks are coded -1/+1 and level factors sum-coded, so with a balanced design each
coefficient is half a classical effect: main effect = mean(on) - mean(off) = 2b, and
the interaction a:b = (a's effect with b on) - (a's effect with b off) = 4b. Every
reported number is a linear contrast c'b of the fit, so CIs and p-values come from
the fit's covariance. Columns the design cannot separate from earlier ones (conflicting
tricks never on together, aliases in a fraction) are dropped and reported as not estimable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm
from scipy import stats
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from tricklab.analysis.schemas import Effect, ModelFit
from tricklab.analysis.table import RunRecord, RunTable, value

# The BLAS libraries numpy and scipy loaded (scanned once, at import).
_BLAS = ThreadpoolController()
# A column whose part orthogonal to the earlier columns is this small (relative) is a linear combination of them.
_RANK_TOL = 1e-9


@dataclass(frozen=True)
class Term:
    """A reported effect: its name, the factors in it and its contrast over the model columns."""

    name: str
    kind: str
    factors: tuple[str, ...]
    contrast: dict[int, float]  # column index -> weight


def _columns(table: RunTable, metric: str) -> tuple[np.ndarray, np.ndarray, list[str], list[Term], list[RunRecord]]:
    """Response, design matrix, column names, the reported terms as contrasts, and the runs behind the rows."""
    rows = [(r, v) for r in table.runs if (v := value(r, metric)) is not None]
    y = np.array([v for _, v in rows], dtype=float)
    n = len(rows)
    tricks = table.trick_factors
    cols: list[np.ndarray] = [np.ones(n)]
    names = ["Intercept"]
    # runs share few distinct trick sets: build each indicator row once per set, not once per run
    patterns: dict[tuple[str, ...], int] = {}
    which = np.array([patterns.setdefault(r.tricks, len(patterns)) for r, _ in rows], dtype=int)
    table_on = np.array([[t in p for t in tricks] for p in patterns], dtype=float).reshape(len(patterns), len(tricks))
    on = table_on[which] if n else np.zeros((0, len(tricks)))
    x = 2.0 * on - 1.0
    trick_col: dict[str, int] = {}
    for i, t in enumerate(tricks):
        trick_col[t] = len(cols)
        cols.append(x[:, i])
        names.append(t)
    terms = [Term(t, "main", (t,), {trick_col[t]: 2.0}) for t in tricks]
    # level factors: sum coding over levels 1..m-1 (level 0 is the all -1 row), so contrasts vs level 0 are sums
    level_cols: dict[str, list[int]] = {}
    for name, levels in table.level_factors.items():
        reprs = [repr(lv) for lv in levels]
        idx = np.array([reprs.index(repr(r.levels.get(name))) for r, _ in rows], dtype=int)
        level_cols[name] = []
        for j in range(1, len(levels)):
            col = (idx == j).astype(float) - (idx == 0).astype(float)
            level_cols[name].append(len(cols))
            cols.append(col)
            names.append(f"{name}[S.{levels[j]}]")
        for j in range(1, len(levels)):
            contrast = {c: 1.0 for c in level_cols[name]}
            contrast[level_cols[name][j - 1]] = 2.0
            terms.append(Term(f"{name}={levels[j]}", "main", (name,), contrast))
    for i, a in enumerate(tricks):
        for b in tricks[i + 1 :]:
            terms.append(Term(f"{a}:{b}", "interaction", (a, b), {len(cols): 4.0}))
            cols.append(cols[trick_col[a]] * cols[trick_col[b]])
            names.append(f"{a}:{b}")
    for t in tricks:
        for name, lcols in level_cols.items():
            prod = [len(cols) + k for k in range(len(lcols))]
            for lc in lcols:
                cols.append(cols[trick_col[t]] * cols[lc])
                names.append(f"{t}:{names[lc]}")
            for j in range(1, len(lcols) + 1):
                contrast = {c: 2.0 for c in prod}
                contrast[prod[j - 1]] = 4.0
                level = table.level_factors[name][j]
                terms.append(Term(f"{t}:{name}={level}", "interaction", (t, name), contrast))
    return y, np.column_stack(cols) if n else np.zeros((0, len(cols))), names, terms, [r for r, _ in rows]


def _independent(X: np.ndarray) -> list[int]:
    """Columns kept in order: each must add something the earlier kept columns cannot express."""
    gram = X.T @ X
    keep: list[int] = []
    for j in range(X.shape[1]):
        gjj = gram[j, j]
        if gjj <= 0:
            continue
        if keep:
            g_kk = gram[np.ix_(keep, keep)]
            g_kj = gram[keep, j]
            coef = np.linalg.solve(g_kk, g_kj)
            resid = gjj - g_kj @ coef
        else:
            resid = gjj
        if resid > _RANK_TOL * gjj:
            keep.append(j)
    return keep


def fit_effects(
    table: RunTable, metric: str, aliases: dict[str, list[str]] | None = None
) -> tuple[list[Effect], list[Effect], ModelFit | None]:
    """Main effects (tricks, then level contrasts), two-way interactions and the fit behind them."""
    # The fit is small (cells x terms): on a busy machine OpenBLAS's threads mostly wait for one
    # another, e.g. a 256 x 37 QR took 25-120 ms instead of 0.1 ms at a load of 6 on 2 cores (issue 7).
    with _BLAS.limit(limits=1, user_api="blas"):
        return _fit_effects(table, metric, aliases)


def _fit_effects(
    table: RunTable, metric: str, aliases: dict[str, list[str]] | None
) -> tuple[list[Effect], list[Effect], ModelFit | None]:
    aliases = aliases or {}
    y, X, names, terms, kept = _columns(table, metric)
    # Replicates share a design row: weighted least squares on the cell means with the
    # within-cell sum of squares added back is exactly the OLS on every run, on ~N/seeds rows.
    # runs of one combination have identical design rows
    group_of: dict[str, int] = {}
    inverse = np.array([group_of.setdefault(r.combo_key, len(group_of)) for r in kept], dtype=np.int64)
    first = np.unique(inverse, return_index=True)[1] if len(y) else np.zeros(0, dtype=np.int64)
    cells = X[first]
    n_cell = np.bincount(inverse).astype(float) if len(y) else np.zeros(0)
    keep = _independent(cells) if len(y) else []
    position = {c: i for i, c in enumerate(keep)}
    params = np.full(len(keep), np.nan)
    cov = np.full((len(keep), len(keep)), np.nan)
    df_resid = len(y) - len(keep)
    model: ModelFit | None = None
    if keep:
        means = np.bincount(inverse, weights=y) / n_cell
        ss_within = float(np.sum((y - means[inverse]) ** 2))
        res = sm.WLS(means, cells[:, keep], weights=n_cell).fit(method="qr")
        params = np.asarray(res.params, dtype=float)
        rss = ss_within + float(res.ssr)
        if df_resid > 0:
            cov = np.asarray(res.normalized_cov_params, dtype=float) * (rss / df_resid)
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        model = ModelFit(
            n_obs=len(y),
            n_params=len(keep),
            df_resid=df_resid,
            r_squared=1.0 - rss / ss_tot if ss_tot > 0 else None,
            formula="y ~ " + " + ".join(names[c] for c in keep[1:]) + " (tricks ±1, levels sum-coded)",
        )
    t_crit = float(stats.t.ppf(0.975, df_resid)) if df_resid > 0 else math.nan
    mains: list[Effect] = []
    inters: list[Effect] = []
    for term in terms:
        estimable = all(c in position for c in term.contrast)
        est = se = lo = hi = p = None
        if estimable:
            c = np.zeros(len(keep))
            for col, w in term.contrast.items():
                c[position[col]] = w
            est = float(c @ params)
            var = float(c @ cov @ c)
            if math.isfinite(var) and var > 0:
                se = math.sqrt(var)
                lo, hi = est - t_crit * se, est + t_crit * se
                p = float(2 * stats.t.sf(abs(est) / se, df_resid))
        better = None if est is None else (est > 0 if table.direction == "maximize" else est < 0)
        effect = Effect(
            term=term.name,
            kind="main" if term.kind == "main" else "interaction",
            factors=list(term.factors),
            estimate=est,
            std_error=se,
            ci_lo=lo,
            ci_hi=hi,
            p_value=p,
            estimable=estimable,
            aliased_with=aliases.get(term.name, []),
            improves=None if est is None else bool(better and p is not None and p < 0.05),
        )
        (mains if term.kind == "main" else inters).append(effect)
    return mains, inters, model
