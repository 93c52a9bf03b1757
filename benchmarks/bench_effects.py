"""Effects analysis (main effects + every two-way interaction) over a 24,576-run table.

13 trick factors in a full factorial (8,192 cells) x 3 seeds, a synthetic final metric with
known main effects and one interaction. Subject: ``fit_effects`` (the OLS/ANOVA with CIs and
p-values) and the whole ``analyze`` report the analysis route returns (summaries with bootstrap
CIs, effects, interactions, one-at-a-time table). Checks that the known effects are recovered.
Target: <= 1 s.

    python benchmarks/bench_effects.py
    python benchmarks/bench_effects.py --quick
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Summary, header, parser, timed, verdict

TARGET_S = 1.0


def build_table(n_tricks: int, seeds: int) -> object:
    import numpy as np
    from tricklab.analysis.table import Cell, RunRecord, RunTable

    tricks = [f"t{i}" for i in range(n_tricks)]
    rng = np.random.default_rng(0)
    sets = [
        tuple(t for t, on in zip(tricks, sw, strict=True) if on) for sw in itertools.product((0, 1), repeat=n_tricks)
    ]
    cells = [Cell("+".join(s) or "base", s, {}) for s in sets]
    runs = []
    for i, (cell, seed) in enumerate(itertools.product(cells, range(seeds))):
        on = set(cell.tricks)
        # t0 helps by +0.05, t1 hurts by -0.02, t0 x t2 interact by +0.03; the rest is noise.
        acc = 0.8 + 0.05 * ("t0" in on) - 0.02 * ("t1" in on) + 0.03 * ({"t0", "t2"} <= on) + rng.normal(0, 0.01)
        runs.append(RunRecord(i, cell.key, cell.tricks, {}, seed, "succeeded", {"acc": float(acc)}))
    return RunTable(runs, cells, tricks)


def design(table: object) -> object:
    from tricklab.analysis.schemas import DesignInfo
    from tricklab.analysis.table import RunTable

    assert isinstance(table, RunTable)
    return DesignInfo(
        design="full",
        resolution=None,
        resolution_label=None,
        factors=table.trick_factors,
        trick_factors=table.trick_factors,
        level_factors={},
        generators=[],
        defining_relation=[],
        aliases=[],
        reference=None,
        n_combinations=len(table.cells),
        n_runs=len(table.runs),
        excluded=[],
    )


def main() -> None:
    from tricklab.analysis.effects import fit_effects
    from tricklab.analysis.report import analyze
    from tricklab.analysis.schemas import DesignInfo
    from tricklab.analysis.table import RunTable

    args = parser(__doc__.splitlines()[0]).parse_args()
    n_tricks, seeds, repeats = (5, 3, 1) if args.quick else (13, 3, args.repeats)
    table = build_table(n_tricks, seeds)
    assert isinstance(table, RunTable)
    info = design(table)
    assert isinstance(info, DesignInfo)
    header(f"effects analysis, {n_tricks} tricks full factorial x {seeds} seeds = {len(table.runs)} runs", args.quick)

    mains, inters, model = fit_effects(table, "acc")
    by_term = {e.term: e.estimate for e in [*mains, *inters]}
    assert len(mains) == n_tricks and len(inters) == n_tricks * (n_tricks - 1) // 2
    assert model is not None and model.n_obs == len(table.runs)
    # mean(on) - mean(off): t0's +0.05 plus half of its +0.03 interaction with t2
    assert abs((by_term["t0"] or 0) - 0.065) < 0.005 and abs((by_term["t1"] or 0) + 0.02) < 0.005, by_term
    assert abs((by_term["t0:t2"] or 0) - 0.03) < 0.01, by_term["t0:t2"]

    fit = Summary([timed(lambda: fit_effects(table, "acc")) for _ in range(repeats)])
    report = Summary(
        [timed(lambda: analyze(experiment_id=1, table=table, metric="acc", design=info)) for _ in range(repeats)]
    )
    print(f"   fit_effects (main + 2-way, CIs, p-values): {fit.fmt(' s')}")
    print(f"   analyze (whole analysis payload):          {report.fmt(' s')}")
    verdict("effects", report.median <= TARGET_S, f"analyze median {report.median:.2f} s vs <= 1 s")


if __name__ == "__main__":
    main()
