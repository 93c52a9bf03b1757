"""Live experiment state for server-sent events: one query for all runs per poll, diffed in memory."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from tricklab.db.models import TERMINAL_RUN_STATUSES, Experiment, Run
from tricklab.schemas.api import ExperimentOut, RunBrief, StatusCounts
from tricklab.services.errors import NotFoundError
from tricklab.services.experiments import experiment_out


@dataclass
class ExperimentState:
    experiment: ExperimentOut
    runs: list[RunBrief]

    @property
    def finished(self) -> bool:
        return all(r.status in TERMINAL_RUN_STATUSES for r in self.runs)


def poll_experiment(*, db_session: Session, experiment_id: int) -> ExperimentState:
    """The experiment and a brief of every run; counts come from the briefs, not another query."""
    row = db_session.get(Experiment, experiment_id, populate_existing=True)
    if row is None:
        raise NotFoundError(f"experiment {experiment_id} not found")
    briefs = [
        RunBrief(id=i, combo_key=k, seed=s, status=st, progress=p, attempt=a, error=e)
        for i, k, s, st, p, a, e in db_session.execute(
            select(Run.id, Run.combo_key, Run.seed, Run.status, Run.progress, Run.attempt, Run.error)
            .where(Run.experiment_id == experiment_id)
            .order_by(Run.id)
        )
    ]
    counts = StatusCounts()
    running_progress = 0.0
    for b in briefs:
        setattr(counts, b.status, getattr(counts, b.status) + 1)
        if b.status == "running":
            running_progress += b.progress
    return ExperimentState(experiment=experiment_out(row, counts, running_progress), runs=briefs)


@dataclass
class ChangeTracker:
    """Remembers what the client was last sent, so updates carry only runs that changed."""

    last: dict[int, RunBrief] = field(default_factory=dict)
    last_experiment: ExperimentOut | None = None

    def snapshot(self, state: ExperimentState) -> dict[str, object]:
        self.last = {r.id: r for r in state.runs}
        self.last_experiment = state.experiment
        return {"experiment": state.experiment.model_dump(mode="json"), "runs": [r.model_dump() for r in state.runs]}

    def update(self, state: ExperimentState) -> dict[str, object] | None:
        """The changes since the last event, or None when nothing changed."""
        changed = [r for r in state.runs if self.last.get(r.id) != r]
        if not changed and state.experiment == self.last_experiment:
            return None
        for r in changed:
            self.last[r.id] = r
        self.last_experiment = state.experiment
        return {"experiment": state.experiment.model_dump(mode="json"), "runs": [r.model_dump() for r in changed]}
