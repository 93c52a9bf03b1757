"""Saved comparisons: named views of one experiment (chosen combinations, metric, smoothing)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tricklab.db.models import SavedView, User
from tricklab.schemas.api import Page
from tricklab.schemas.auth import ViewConfig, ViewIn, ViewOut
from tricklab.services.errors import NotFoundError


def view_out(row: SavedView, username: str | None) -> ViewOut:
    """Convert a row to the API shape."""
    return ViewOut(
        id=row.id,
        experiment_id=row.experiment_id,
        name=row.name,
        config=ViewConfig.model_validate(row.config),
        created_by=username,
        created_at=row.created_at,
    )


def _username(db_session: Session, user_id: int | None) -> str | None:
    user = db_session.get(User, user_id) if user_id is not None else None
    return user.username if user else None


def get_view_row(*, db_session: Session, experiment_id: int, view_id: int) -> SavedView:
    """The view if it belongs to the experiment, else NotFoundError."""
    row = db_session.get(SavedView, view_id)
    if row is None or row.experiment_id != experiment_id:
        raise NotFoundError(f"view {view_id} not found")
    return row


def get_view(*, db_session: Session, experiment_id: int, view_id: int) -> ViewOut:
    """One saved view of an experiment."""
    row = get_view_row(db_session=db_session, experiment_id=experiment_id, view_id=view_id)
    return view_out(row, _username(db_session, row.created_by))


def list_views(*, db_session: Session, experiment_id: int, offset: int, limit: int) -> Page[ViewOut]:
    """A page of an experiment's saved views, by name."""
    where = SavedView.experiment_id == experiment_id
    total = db_session.scalar(select(func.count()).select_from(SavedView).where(where)) or 0
    rows = db_session.execute(
        select(SavedView, User.username)
        .outerjoin(User, User.id == SavedView.created_by)
        .where(where)
        .order_by(SavedView.name, SavedView.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return Page[ViewOut](items=[view_out(v, n) for v, n in rows], total=total, offset=offset, limit=limit)


def create_view(*, db_session: Session, experiment_id: int, body: ViewIn, user_id: int) -> ViewOut:
    """Store a named view of the experiment."""
    row = SavedView(
        experiment_id=experiment_id, name=body.name, config=body.config.model_dump(mode="json"), created_by=user_id
    )
    db_session.add(row)
    db_session.commit()
    return view_out(row, _username(db_session, user_id))


def update_view(*, db_session: Session, experiment_id: int, view_id: int, body: ViewIn) -> ViewOut:
    """Rename a view and replace its configuration."""
    row = get_view_row(db_session=db_session, experiment_id=experiment_id, view_id=view_id)
    row.name = body.name
    row.config = body.config.model_dump(mode="json")
    db_session.commit()
    return view_out(row, _username(db_session, row.created_by))


def delete_view(*, db_session: Session, experiment_id: int, view_id: int) -> None:
    """Delete a view (share links to it go with it)."""
    row = get_view_row(db_session=db_session, experiment_id=experiment_id, view_id=view_id)
    db_session.delete(row)
    db_session.commit()
