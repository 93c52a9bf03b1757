"""REST request and response models (docs/API.md is the contract; fields may be added, never renamed).

ORM rows are converted to these explicitly in the services, so the API never
leaks a lazy-loading row outside its session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tricklab.catalog.params import ParamValue
from tricklab.reporting import TerminalStatus
from tricklab.schemas.run_config import RunConfig

T = TypeVar("T")

RunStatus = Literal["queued", "running", "succeeded", "failed", "diverged", "cancelled"]
ExperimentStatus = Literal["queued", "running", "finished", "cancelled"]
MAX_PAGE_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    version: str


class CombinationOut(BaseModel):
    key: str
    tricks: dict[str, dict[str, ParamValue]]
    levels: dict[str, ParamValue] = {}


class PreviewOut(BaseModel):
    n_combinations: int
    n_runs: int
    combinations: list[CombinationOut]
    design: str
    seeds: int
    factors: list[str]


class ExperimentCreated(BaseModel):
    id: int
    name: str
    n_runs: int
    url: str


class StatusCounts(BaseModel):
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    diverged: int = 0
    cancelled: int = 0


class ExperimentOut(BaseModel):
    id: int
    name: str
    task: str
    status: ExperimentStatus
    spec: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None
    n_runs: int
    counts: StatusCounts
    progress: float = Field(ge=0.0, le=1.0)
    metric: str
    direction: Literal["maximize", "minimize"]
    factors: list[str]
    combinations: list[CombinationOut]
    design: str


class RunBrief(BaseModel):
    id: int
    combo_key: str
    seed: int
    status: RunStatus
    progress: float
    attempt: int
    error: str | None


class AttemptOut(BaseModel):
    attempt: int
    worker_id: str | None
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    reason: str | None
    resumed_from_step: int | None = None


class RunOut(BaseModel):
    id: int
    experiment_id: int
    combo_key: str
    tricks: dict[str, dict[str, ParamValue]]
    levels: dict[str, ParamValue]
    seed: int
    status: RunStatus
    attempt: int
    worker_id: str | None
    config: RunConfig
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    duration_seconds: float | None
    progress: float
    error: str | None
    cancel_requested: bool
    final_metrics: dict[str, float | None]
    attempts: list[AttemptOut]


class MetricKeyOut(BaseModel):
    key: str
    count: int
    last_step: int
    last_value: float | None


class MetricKeysOut(BaseModel):
    keys: list[MetricKeyOut]


class MetricSeriesOut(BaseModel):
    key: str
    steps: list[int]
    values: list[float | None]
    mins: list[float | None]
    maxs: list[float | None]
    total_points: int
    downsampled: bool


# Worker reporting (the REST transport of tricklab.reporting.RunReporter).


class ClaimIn(BaseModel):
    attempt: int = Field(ge=1)
    worker_id: str = Field(min_length=1, max_length=200)


class ClaimOut(BaseModel):
    run_id: int
    attempt: int
    config: RunConfig
    checkpoint_path: str | None


class HeartbeatIn(BaseModel):
    attempt: int = Field(ge=1)
    progress: float = Field(ge=0.0, le=1.0)


class HeartbeatOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    continue_: bool = Field(alias="continue")


class ResumeIn(BaseModel):
    attempt: int = Field(ge=1)
    step: int = Field(ge=0)


class MetricPointIn(BaseModel):
    key: str = Field(min_length=1, max_length=200)
    step: int = Field(ge=0)
    # JSON has no NaN: "NaN", "Infinity" and "-Infinity" arrive as strings and parse to floats.
    value: float
    wall_time: float


class MetricSeriesIn(BaseModel):
    """One key's points as parallel arrays: validated as three lists, not one model per point."""

    key: str = Field(min_length=1, max_length=200)
    steps: list[Annotated[int, Field(ge=0)]] = Field(max_length=100_000)
    # "NaN", "Infinity" and "-Infinity" strings parse to floats, as in MetricPointIn.
    values: list[float] = Field(max_length=100_000)
    wall_times: list[float] = Field(max_length=100_000)

    @model_validator(mode="after")
    def _same_lengths(self) -> MetricSeriesIn:
        if not len(self.steps) == len(self.values) == len(self.wall_times):
            raise ValueError("steps, values and wall_times must have the same length")
        return self


class MetricsIn(BaseModel):
    """A batch as ``points`` (one object per point), ``series`` (columnar per key), or both."""

    attempt: int = Field(ge=1)
    points: list[MetricPointIn] = Field(default=[], max_length=100_000)
    series: list[MetricSeriesIn] = Field(default=[], max_length=1_000)


class FinishIn(BaseModel):
    attempt: int = Field(ge=1)
    status: TerminalStatus
    final_metrics: dict[str, float] = {}
    error: str | None = None
