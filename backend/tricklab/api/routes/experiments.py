"""Experiments: preview, create, list, get, cancel, their runs and their live event stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from tricklab.api.deps import CeleryDep, SessionDep, SessionFactoryDep, SettingsDep
from tricklab.api.sse import experiment_event_stream
from tricklab.auth.deps import MemberDep, ViewerDep
from tricklab.schemas.api import MAX_PAGE_LIMIT, ExperimentCreated, ExperimentOut, Page, PreviewOut, RunOut, RunStatus
from tricklab.schemas.spec import ExperimentSpec
from tricklab.services import access
from tricklab.services import experiments as service
from tricklab.services import runs as run_service
from tricklab.services.events import ExperimentState, poll_experiment

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"])

Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]


@router.post("/preview", response_model=PreviewOut)
def preview_experiment(spec: ExperimentSpec, principal: ViewerDep) -> PreviewOut:
    """How many combinations and runs a spec would launch (nothing is stored)."""
    return service.preview_experiment(spec=spec)


@router.post("", response_model=ExperimentCreated, status_code=status.HTTP_201_CREATED)
def create_experiment(
    spec: ExperimentSpec, db_session: SessionDep, celery_app: CeleryDep, settings: SettingsDep, principal: MemberDep
) -> ExperimentCreated:
    """Expand the spec into runs, store them (owned by the caller's team) and enqueue them."""
    return service.create_experiment(
        db_session=db_session,
        spec=spec,
        celery_app=celery_app,
        public_url=settings.public_url,
        team_id=principal.team_id,
        bundle_runs=settings.dispatch_bundle_runs,
    )


@router.get("", response_model=Page[ExperimentOut])
def list_experiments(
    db_session: SessionDep, principal: ViewerDep, offset: Offset = 0, limit: Limit = 50
) -> Page[ExperimentOut]:
    """The caller's team's experiments, newest first."""
    return service.list_experiments(db_session=db_session, offset=offset, limit=limit, team_id=principal.team_id)


@router.get("/{experiment_id}", response_model=ExperimentOut)
def get_experiment(experiment_id: int, db_session: SessionDep, principal: ViewerDep) -> ExperimentOut:
    """One experiment with run counts and progress."""
    access.experiment_in_team(db_session=db_session, experiment_id=experiment_id, team_id=principal.team_id)
    return service.get_experiment(db_session=db_session, experiment_id=experiment_id)


@router.post("/{experiment_id}/cancel", response_model=ExperimentOut)
def cancel_experiment(
    experiment_id: int, db_session: SessionDep, celery_app: CeleryDep, principal: MemberDep
) -> ExperimentOut:
    """Cancel queued runs now; running runs stop at their next step check."""
    access.experiment_in_team(db_session=db_session, experiment_id=experiment_id, team_id=principal.team_id)
    return service.cancel_experiment(db_session=db_session, experiment_id=experiment_id, celery_app=celery_app)


@router.get("/{experiment_id}/runs", response_model=Page[RunOut])
def list_runs(
    experiment_id: int,
    db_session: SessionDep,
    principal: ViewerDep,
    status: RunStatus | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[RunOut]:
    """An experiment's runs, optionally of one status."""
    access.experiment_in_team(db_session=db_session, experiment_id=experiment_id, team_id=principal.team_id)
    return run_service.list_runs(
        db_session=db_session, experiment_id=experiment_id, status=status, offset=offset, limit=limit
    )


@router.get(
    "/{experiment_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "snapshot, update and end events"}},
)
async def experiment_events(
    experiment_id: int,
    request: Request,
    session_factory: SessionFactoryDep,
    settings: SettingsDep,
    principal: ViewerDep,
) -> StreamingResponse:
    """Server-sent events: a snapshot, then updates of changed runs, then ``end`` once every run is terminal."""

    def poll() -> ExperimentState:
        with session_factory() as db_session:
            return poll_experiment(db_session=db_session, experiment_id=experiment_id)

    def check() -> None:
        with session_factory() as db_session:
            access.experiment_in_team(db_session=db_session, experiment_id=experiment_id, team_id=principal.team_id)

    await run_in_threadpool(check)

    first = await run_in_threadpool(poll)  # raises NotFoundError (404) before the stream starts
    return StreamingResponse(
        experiment_event_stream(request, first, poll, settings.sse_poll_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
