"""Analysis routes: aggregated curves, effects and exports of an experiment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from tricklab.analysis.schemas import AnalysisOut, CurvesOut
from tricklab.api.deps import SessionDep
from tricklab.api.etag import NOT_MODIFIED, IfNoneMatch, payload_response
from tricklab.auth.deps import ViewerDep
from tricklab.services import access
from tricklab.services import analysis as service

router = APIRouter(prefix="/api/v1", tags=["analysis"])


def _unprocessable(exc: service.UnknownKeyError) -> HTTPException:
    detail = [{"loc": ["query", exc.field], "msg": str(exc), "type": "value_error"}]
    return HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


@router.get("/experiments/{experiment_id}/curves", response_model=CurvesOut, responses=NOT_MODIFIED)
def get_curves(
    experiment_id: int,
    db_session: SessionDep,
    principal: ViewerDep,
    key: Annotated[str, Query(min_length=1, max_length=200)] = "train_loss",
    points: Annotated[int, Query(ge=10, le=2000)] = 200,
    diff: Annotated[str | None, Query(description="a trick factor: add its paired with-minus-without curve")] = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Seed-mean curves with 95% bands per combination on a common step grid."""
    access.experiment_in_team(db_session=db_session, experiment_id=experiment_id, team_id=principal.team_id)
    try:
        payload = service.curves_json(
            db_session=db_session,
            experiment_id=experiment_id,
            key=key,
            points=points,
            diff=diff,
            if_none_match=if_none_match,
        )
    except service.UnknownKeyError as exc:
        raise _unprocessable(exc) from exc
    return payload_response(payload)


@router.get("/experiments/{experiment_id}/analysis", response_model=AnalysisOut, responses=NOT_MODIFIED)
def get_analysis(
    experiment_id: int,
    db_session: SessionDep,
    principal: ViewerDep,
    metric: Annotated[str | None, Query(max_length=200, description="a final metric; default the primary")] = None,
    target: Annotated[float | None, Query(description="target value for steps/seconds to target")] = None,
    target_key: Annotated[str | None, Query(max_length=200, description="curve searched for the target")] = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Per-combination summary, effects, interactions, one-at-a-time table, speed and design info."""
    access.experiment_in_team(db_session=db_session, experiment_id=experiment_id, team_id=principal.team_id)
    try:
        payload = service.analysis_json(
            db_session=db_session,
            experiment_id=experiment_id,
            metric=metric,
            target=target,
            target_key=target_key,
            if_none_match=if_none_match,
        )
    except service.UnknownKeyError as exc:
        raise _unprocessable(exc) from exc
    return payload_response(payload)


@router.get("/experiments/{experiment_id}/export")
def export_experiment(
    experiment_id: int,
    db_session: SessionDep,
    principal: ViewerDep,
    format: Annotated[str, Query(description="csv | json | md | tex")] = "csv",
    metric: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The experiment as CSV (one row per run), JSON, or Markdown/LaTeX tables."""
    access.experiment_in_team(db_session=db_session, experiment_id=experiment_id, team_id=principal.team_id)
    try:
        body, media_type = service.get_export(
            db_session=db_session, experiment_id=experiment_id, fmt=format, metric=metric
        )
    except service.UnknownKeyError as exc:
        raise _unprocessable(exc) from exc
    ext = {"text/csv": "csv", "application/json": "json", "text/markdown": "md", "text/x-tex": "tex"}[media_type]
    headers = {"Content-Disposition": f'attachment; filename="experiment-{experiment_id}.{ext}"'}
    return Response(content=body, media_type=media_type, headers=headers)
