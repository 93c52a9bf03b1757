"""Response shapes of the analysis API (curves, analysis, design info).

Every float that cannot be computed (a CI from one seed, a p-value with no
residual degrees of freedom, an effect aliased away) is ``None`` so JSON stays
valid and the dashboard can say why instead of drawing a fake number.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from tricklab.catalog.params import ParamValue

StatusCounts = dict[str, int]


class Alias(BaseModel):
    """One effect of a fractional design and the effects it cannot be told apart from."""

    effect: str  # "warmup" or "warmup:radam"
    aliased_with: list[str]  # effects up to four factors, e.g. ["batch_norm:dropout:relu"]


class DesignInfo(BaseModel):
    """What the design is and what it can and cannot estimate."""

    design: Literal["full", "fractional", "leave_one_out", "add_one_in", "custom"]
    resolution: int | None  # achieved resolution of a fractional design (3, 4, 5 or more); None otherwise
    resolution_label: str | None  # "III", "IV", "V", ...
    factors: list[str]  # trick factors, then level factors
    trick_factors: list[str]
    level_factors: dict[str, list[ParamValue]]
    generators: list[str]  # fractional: "relu = batch_norm:dropout:warmup"
    defining_relation: list[str]  # fractional: the words equal to the identity, "I = ..." omitted
    aliases: list[Alias]  # fractional: every main effect and two-way interaction with its aliases
    reference: str | None  # combination key paired comparisons refer to (all-on for leave_one_out, base otherwise)
    n_combinations: int
    n_runs: int  # n_combinations x seeds
    excluded: list[str]  # trick sets a design would have wanted but that conflict, e.g. ["batch_norm+group_norm"]


class CombinationSummary(BaseModel):
    """One combination's final metric over its seeds, with every run's fate counted."""

    key: str
    tricks: list[str]
    levels: dict[str, ParamValue]
    n: int  # runs with a finite value of the metric
    n_runs: int  # all runs of the combination, whatever their status
    mean: float | None
    std: float | None  # sample std (ddof=1); None when n < 2
    ci_lo: float | None  # 95% bootstrap (percentile, fixed seed) CI of the mean; None when n < 2
    ci_hi: float | None
    counts: StatusCounts  # queued/running/succeeded/failed/diverged/cancelled
    divergence_rate: float | None  # diverged / finished runs; None when none finished


class Effect(BaseModel):
    """A main effect or two-way interaction estimated by OLS over the design."""

    term: str  # "warmup", "warmup:radam", "lr=0.5" (vs the first level), "warmup:lr=0.5"
    kind: Literal["main", "interaction"]
    factors: list[str]
    estimate: float | None  # main: mean(on) - mean(off); interaction: effect of A with B on - with B off
    std_error: float | None
    ci_lo: float | None  # 95% t-interval from the OLS fit
    ci_hi: float | None
    p_value: float | None  # two-sided t-test of the term (equals the ANOVA F-test for one df)
    estimable: bool  # False when the design confounds the term with an earlier one (conflicts, aliasing)
    aliased_with: list[str]  # fractional designs: what this estimate also contains
    improves: bool | None  # estimate in the metric's better direction and p < 0.05; None when not estimable


class ModelFit(BaseModel):
    """The OLS fit behind the effects."""

    n_obs: int
    n_params: int
    df_resid: int
    r_squared: float | None
    formula: str  # human-readable, e.g. "y ~ warmup + radam + warmup:radam (±1 coding)"


class OneAtATimeRow(BaseModel):
    """Paper-style row: a trick's paired per-seed effect against the reference combination."""

    trick: str
    levels: dict[str, ParamValue]
    with_key: str
    without_key: str
    n_pairs: int  # seeds where both runs have a finite value
    with_mean: float | None
    without_mean: float | None
    mean_diff: float | None  # with minus without, paired by seed
    ci_lo: float | None  # 95% bootstrap CI of the mean paired difference; None when n_pairs < 2
    ci_hi: float | None
    p_improve: float | None  # share of seeds where "with" is better in the metric's direction (ties count 1/2)


class SpeedRow(BaseModel):
    """Steps and seconds until a run's curve first reaches the target."""

    key: str
    n_runs: int
    n_reached: int
    median_steps: float | None  # over all runs, not-reached counted as never (None when half never reach)
    median_seconds: float | None
    speedup: float | None  # reference median_steps / this median_steps; None when this never reaches
    speedup_seconds: float | None


class SpeedTable(BaseModel):
    curve_key: str  # the recorded series searched, e.g. "val_accuracy"
    target: float
    direction: Literal["maximize", "minimize"]
    reference: str | None
    rows: list[SpeedRow]


class AnalysisOut(BaseModel):
    """GET /experiments/{id}/analysis."""

    experiment_id: int
    metric: str
    direction: Literal["maximize", "minimize"]
    design: DesignInfo
    counts: StatusCounts  # over every run of the experiment
    n_runs: int
    n_with_metric: int
    complete: bool  # every run terminal
    summary: list[CombinationSummary]  # in design order
    effects: list[Effect]  # main effects, design order of factors
    interactions: list[Effect]  # every two-way interaction
    model: ModelFit | None  # None when too few finished runs to fit
    one_at_a_time: list[OneAtATimeRow] | None  # leave_one_out / add_one_in designs
    speed: SpeedTable | None  # when a target is given (query or base.target)
    warnings: list[str]


class CurveBand(BaseModel):
    """Seed mean of one combination's curve with a 95% t-band, on the experiment's common grid."""

    key: str
    tricks: list[str]
    levels: dict[str, ParamValue]
    steps: list[int]
    mean: list[float | None]
    lo: list[float | None]
    hi: list[float | None]
    n: list[int]  # seeds contributing at each step (running runs stop early, diverged ones at the divergence)


class DiffCurve(BaseModel):
    """Paired (same seed, same other factors) with-minus-without curve of one trick."""

    trick: str
    steps: list[int]
    mean: list[float | None]
    lo: list[float | None]
    hi: list[float | None]
    n: list[int]  # paired differences at each step
    n_pairs: int  # (combination pair, seed) couples that contributed at all


class CurvesOut(BaseModel):
    """GET /experiments/{id}/curves."""

    key: str
    points: int
    combinations: list[CurveBand]
    diff: DiffCurve | None
