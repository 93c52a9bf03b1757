"""Share links: members create, list and revoke them; ``/shared/{token}`` serves the read-only view.

A link reaches exactly one experiment: its summary, runs, curves and analysis. Each request
re-checks the link, so revocation and expiry take effect at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker

from tricklab.analysis.schemas import AnalysisOut, CurvesOut
from tricklab.api.deps import SessionDep, SettingsDep, get_session_factory
from tricklab.api.etag import NOT_MODIFIED, IfNoneMatch, payload_response
from tricklab.auth.deps import MemberDep
from tricklab.db.session import begin_write
from tricklab.schemas.api import MAX_PAGE_LIMIT, Page, RunOut, RunStatus
from tricklab.schemas.auth import ShareCreated, ShareCreateIn, SharedOut, ShareOut
from tricklab.services import access, analysis, experiments, runs, views
from tricklab.services import shares as service
from tricklab.services.shares import ShareGrant

router = APIRouter(prefix="/api/v1", tags=["shares"])

Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]


class ShareLinkRequirement:
    """A dependency that admits holders of a valid link and yields its grant (404 when unknown, revoked, expired)."""

    requirement = "share link"

    def __call__(
        self,
        share_token: Annotated[str, Path(min_length=1, max_length=200)],
        factory: Annotated[sessionmaker[Session], Depends(get_session_factory)],
    ) -> ShareGrant:
        with factory() as db_session:
            return service.resolve_share(db_session=db_session, raw=share_token)


ShareDep = Annotated[ShareGrant, Depends(ShareLinkRequirement())]


@router.post("/experiments/{experiment_id}/shares", response_model=ShareCreated, status_code=status.HTTP_201_CREATED)
def create_share(
    experiment_id: int, body: ShareCreateIn, db_session: SessionDep, settings: SettingsDep, principal: MemberDep
) -> ShareCreated:
    """A read-only link to the experiment (or one of its saved views); the token is shown once."""
    access.experiment_in_team(db_session=db_session, experiment_id=experiment_id, team_id=principal.team_id)
    begin_write(db_session)
    return service.create_share(
        db_session=db_session,
        experiment_id=experiment_id,
        view_id=body.view_id,
        expires_in_days=body.expires_in_days,
        user_id=principal.user_id,
        public_url=settings.public_url,
    )


@router.get("/experiments/{experiment_id}/shares", response_model=Page[ShareOut])
def list_shares(
    experiment_id: int, db_session: SessionDep, principal: MemberDep, offset: Offset = 0, limit: Limit = 50
) -> Page[ShareOut]:
    """The experiment's links, revoked and expired ones included."""
    access.experiment_in_team(db_session=db_session, experiment_id=experiment_id, team_id=principal.team_id)
    return service.list_shares(db_session=db_session, experiment_id=experiment_id, offset=offset, limit=limit)


@router.delete("/shares/{share_id}", response_model=ShareOut)
def revoke_share(share_id: int, db_session: SessionDep, principal: MemberDep) -> ShareOut:
    """Revoke a link; it stops working with the next request."""
    begin_write(db_session)
    return service.revoke_share(db_session=db_session, share_id=share_id, team_id=principal.team_id)


@router.get("/shared/{share_token}", response_model=SharedOut)
def shared_view(grant: ShareDep, db_session: SessionDep) -> SharedOut:
    """The shared experiment's summary and the saved view the link points to, if any."""
    experiment = experiments.get_experiment(db_session=db_session, experiment_id=grant.experiment_id)
    view = None
    if grant.view_id is not None:
        view = views.get_view(db_session=db_session, experiment_id=grant.experiment_id, view_id=grant.view_id)
    return SharedOut(experiment=experiment, view=view, expires_at=grant.expires_at)


@router.get("/shared/{share_token}/runs", response_model=Page[RunOut])
def shared_runs(
    grant: ShareDep, db_session: SessionDep, status: RunStatus | None = None, offset: Offset = 0, limit: Limit = 50
) -> Page[RunOut]:
    """The shared experiment's runs."""
    return runs.list_runs(
        db_session=db_session, experiment_id=grant.experiment_id, status=status, offset=offset, limit=limit
    )


def _unprocessable(exc: analysis.UnknownKeyError) -> HTTPException:
    detail = [{"loc": ["query", exc.field], "msg": str(exc), "type": "value_error"}]
    return HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


@router.get("/shared/{share_token}/curves", response_model=CurvesOut, responses=NOT_MODIFIED)
def shared_curves(
    grant: ShareDep,
    db_session: SessionDep,
    key: Annotated[str, Query(min_length=1, max_length=200)] = "train_loss",
    points: Annotated[int, Query(ge=10, le=2000)] = 200,
    diff: Annotated[str | None, Query(max_length=200)] = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The shared experiment's seed-mean curves (as ``/experiments/{id}/curves``)."""
    try:
        payload = analysis.curves_json(
            db_session=db_session,
            experiment_id=grant.experiment_id,
            key=key,
            points=points,
            diff=diff,
            if_none_match=if_none_match,
        )
    except analysis.UnknownKeyError as exc:
        raise _unprocessable(exc) from exc
    return payload_response(payload)


@router.get("/shared/{share_token}/analysis", response_model=AnalysisOut, responses=NOT_MODIFIED)
def shared_analysis(
    grant: ShareDep,
    db_session: SessionDep,
    metric: Annotated[str | None, Query(max_length=200)] = None,
    target: float | None = None,
    target_key: Annotated[str | None, Query(max_length=200)] = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The shared experiment's summary, effects and tables (as ``/experiments/{id}/analysis``)."""
    try:
        payload = analysis.analysis_json(
            db_session=db_session,
            experiment_id=grant.experiment_id,
            metric=metric,
            target=target,
            target_key=target_key,
            if_none_match=if_none_match,
        )
    except analysis.UnknownKeyError as exc:
        raise _unprocessable(exc) from exc
    return payload_response(payload)
