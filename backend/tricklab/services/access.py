"""Team isolation: another team's experiment or run is answered exactly like a missing one (404)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tricklab.db.models import Experiment, Run
from tricklab.services.errors import NotFoundError


def experiment_in_team(*, db_session: Session, experiment_id: int, team_id: int) -> None:
    """Raise NotFoundError unless the experiment exists and belongs to ``team_id``."""
    owner = db_session.scalar(select(Experiment.team_id).where(Experiment.id == experiment_id))
    # End the read so a write path that follows can open its transaction as a writer (begin_write).
    db_session.rollback()
    if owner is None or owner != team_id:
        raise NotFoundError(f"experiment {experiment_id} not found")


def run_in_team(*, db_session: Session, run_id: int, team_id: int) -> None:
    """Raise NotFoundError unless the run exists and its experiment belongs to ``team_id``."""
    owner = db_session.scalar(
        select(Experiment.team_id).join(Run, Run.experiment_id == Experiment.id).where(Run.id == run_id)
    )
    db_session.rollback()
    if owner is None or owner != team_id:
        raise NotFoundError(f"run {run_id} not found")
