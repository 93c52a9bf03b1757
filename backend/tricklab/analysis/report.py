"""Assemble the full analysis of one metric from a run table and its design."""

from __future__ import annotations

from tricklab.analysis.curves import Series, speed_table
from tricklab.analysis.effects import fit_effects
from tricklab.analysis.schemas import AnalysisOut, DesignInfo
from tricklab.analysis.summary import one_at_a_time, summarize
from tricklab.analysis.table import FINISHED, RunTable, status_counts, value
from tricklab.schemas.spec import Direction


def default_target_key(metric: str) -> str:
    """The recorded curve to search for a target: final ``test_*`` metrics are tracked as ``val_*`` during training."""
    return "val_" + metric[len("test_") :] if metric.startswith("test_") else metric


def analyze(
    *,
    experiment_id: int,
    table: RunTable,
    metric: str,
    design: DesignInfo,
    target: float | None = None,
    target_key: str | None = None,
    series: dict[int, Series] | None = None,
) -> AnalysisOut:
    """Summary, effects, interactions, one-at-a-time table and speed of ``metric`` over the table's runs."""
    direction: Direction = "minimize" if table.direction == "minimize" else "maximize"
    counts = status_counts(table.runs)
    n_with = sum(1 for r in table.runs if value(r, metric) is not None)
    aliases = {a.effect: a.aliased_with for a in design.aliases}
    mains, inters, model = fit_effects(table, metric, aliases)
    warnings: list[str] = []
    dropped = sum(counts[s] for s in FINISHED) - n_with
    if dropped:
        warnings.append(
            f"{dropped} finished run(s) have no finite {metric} (failed, diverged or not recorded); "
            "they are counted per combination, not averaged"
        )
    pending = counts["queued"] + counts["running"]
    if pending:
        warnings.append(f"{pending} run(s) are not finished yet: results are partial")
    if model is not None and model.df_resid <= 0:
        warnings.append("no residual degrees of freedom (one seed per cell?): effects have no CIs or p-values")
    if any(not e.estimable for e in mains + inters):
        warnings.append("some terms cannot be estimated by this design (conflicting tricks or aliasing)")
    speed = None
    if target is not None and series is not None:
        reference = None
        if design.reference is not None:
            reference = () if design.reference == "base" else tuple(design.reference.split("+"))
        speed = speed_table(
            cells=table.ordered_cells(),
            runs=table.runs,
            series=series,
            curve_key=target_key or default_target_key(metric),
            target=target,
            direction=direction,
            reference=reference,
        )
    return AnalysisOut(
        experiment_id=experiment_id,
        metric=metric,
        direction=direction,
        design=design,
        counts=counts,
        n_runs=len(table.runs),
        n_with_metric=n_with,
        complete=pending == 0,
        summary=summarize(table, metric),
        effects=mains,
        interactions=inters,
        model=model,
        one_at_a_time=one_at_a_time(table, metric),
        speed=speed,
        warnings=warnings,
    )
