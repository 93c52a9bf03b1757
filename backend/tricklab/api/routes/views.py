"""Saved comparisons of an experiment: list and open (viewers), create, update and delete (members)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from tricklab.api.deps import SessionDep
from tricklab.auth.deps import MemberDep, ViewerDep
from tricklab.db.session import begin_write
from tricklab.schemas.api import MAX_PAGE_LIMIT, Page
from tricklab.schemas.auth import ViewIn, ViewOut
from tricklab.services import access
from tricklab.services import views as service

router = APIRouter(prefix="/api/v1/experiments/{experiment_id}/views", tags=["views"])

Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]


def _check(db_session: SessionDep, experiment_id: int, team_id: int, *, write: bool = False) -> None:
    access.experiment_in_team(db_session=db_session, experiment_id=experiment_id, team_id=team_id)
    if write:
        begin_write(db_session)


@router.get("", response_model=Page[ViewOut])
def list_views(
    experiment_id: int, db_session: SessionDep, principal: ViewerDep, offset: Offset = 0, limit: Limit = 50
) -> Page[ViewOut]:
    """The experiment's saved comparisons, by name."""
    _check(db_session, experiment_id, principal.team_id)
    return service.list_views(db_session=db_session, experiment_id=experiment_id, offset=offset, limit=limit)


@router.post("", response_model=ViewOut, status_code=status.HTTP_201_CREATED)
def create_view(experiment_id: int, body: ViewIn, db_session: SessionDep, principal: MemberDep) -> ViewOut:
    """Save a named comparison (combinations, metric, smoothing) of the experiment."""
    _check(db_session, experiment_id, principal.team_id, write=True)
    return service.create_view(db_session=db_session, experiment_id=experiment_id, body=body, user_id=principal.user_id)


@router.get("/{view_id}", response_model=ViewOut)
def get_view(experiment_id: int, view_id: int, db_session: SessionDep, principal: ViewerDep) -> ViewOut:
    """One saved comparison."""
    _check(db_session, experiment_id, principal.team_id)
    return service.get_view(db_session=db_session, experiment_id=experiment_id, view_id=view_id)


@router.put("/{view_id}", response_model=ViewOut)
def update_view(
    experiment_id: int, view_id: int, body: ViewIn, db_session: SessionDep, principal: MemberDep
) -> ViewOut:
    """Rename a saved comparison and replace what it shows."""
    _check(db_session, experiment_id, principal.team_id, write=True)
    return service.update_view(db_session=db_session, experiment_id=experiment_id, view_id=view_id, body=body)


@router.delete("/{view_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def delete_view(experiment_id: int, view_id: int, db_session: SessionDep, principal: MemberDep) -> Response:
    """Delete a saved comparison (and the share links made from it)."""
    _check(db_session, experiment_id, principal.team_id, write=True)
    service.delete_view(db_session=db_session, experiment_id=experiment_id, view_id=view_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
