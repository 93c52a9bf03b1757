"""Runs: get, cancel and read metrics (the dashboard and CLI side)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tricklab.api.deps import CeleryDep, SessionDep
from tricklab.auth.deps import MemberDep, ViewerDep
from tricklab.schemas.api import MetricKeysOut, MetricSeriesOut, RunOut
from tricklab.services import access
from tricklab.services import metrics as metric_service
from tricklab.services import runs as service

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])


@router.get("/{run_id}", response_model=RunOut)
def get_run(run_id: int, db_session: SessionDep, principal: ViewerDep) -> RunOut:
    """One run: config, status, timings, attempts and final metrics."""
    access.run_in_team(db_session=db_session, run_id=run_id, team_id=principal.team_id)
    return service.get_run(db_session=db_session, run_id=run_id)


@router.post("/{run_id}/cancel", response_model=RunOut)
def cancel_run(run_id: int, db_session: SessionDep, celery_app: CeleryDep, principal: MemberDep) -> RunOut:
    """Cancel a queued or running run (409 when it already ended)."""
    access.run_in_team(db_session=db_session, run_id=run_id, team_id=principal.team_id)
    return service.cancel_run(db_session=db_session, run_id=run_id, celery_app=celery_app)


@router.get("/{run_id}/metrics", response_model=MetricKeysOut)
def list_metric_keys(run_id: int, db_session: SessionDep, principal: ViewerDep) -> MetricKeysOut:
    """Every recorded key with its count and last value."""
    access.run_in_team(db_session=db_session, run_id=run_id, team_id=principal.team_id)
    return metric_service.list_keys(db_session=db_session, run_id=run_id)


@router.get("/{run_id}/metrics/{key}", response_model=MetricSeriesOut)
def get_metric_series(
    run_id: int,
    key: str,
    db_session: SessionDep,
    principal: ViewerDep,
    max_points: Annotated[int, Query(ge=2, le=100_000)] = 1000,
    start_step: Annotated[int | None, Query(ge=0)] = None,
    end_step: Annotated[int | None, Query(ge=0)] = None,
) -> MetricSeriesOut:
    """One metric, downsampled to ``max_points`` buckets (first step, mean, min, max) when longer."""
    access.run_in_team(db_session=db_session, run_id=run_id, team_id=principal.team_id)
    return metric_service.get_series(
        db_session=db_session,
        run_id=run_id,
        key=key,
        max_points=max_points,
        start_step=start_step,
        end_step=end_step,
    )
