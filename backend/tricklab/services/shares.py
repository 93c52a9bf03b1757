"""Share links: read-only access to one experiment (or one saved view of it) for whoever holds the link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tricklab.auth.tokens import SHARE_PREFIX, digest, display_prefix, new_secret
from tricklab.db.models import Experiment, ShareLink, User
from tricklab.db.types import utcnow
from tricklab.schemas.api import Page
from tricklab.schemas.auth import ShareCreated, ShareOut
from tricklab.services.errors import NotFoundError
from tricklab.services.views import get_view_row


@dataclass(frozen=True)
class ShareGrant:
    """What a valid link lets its holder read: one experiment, optionally through one view."""

    link_id: int
    experiment_id: int
    view_id: int | None
    expires_at: datetime | None


def share_out(row: ShareLink, username: str | None) -> ShareOut:
    """Convert a row to the API shape (never includes the secret)."""
    return ShareOut(
        id=row.id,
        experiment_id=row.experiment_id,
        view_id=row.view_id,
        prefix=row.prefix,
        created_by=username,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def create_share(
    *,
    db_session: Session,
    experiment_id: int,
    view_id: int | None,
    expires_in_days: float | None,
    user_id: int,
    public_url: str,
) -> ShareCreated:
    """A new link to the experiment (or one of its views); the raw token is returned once."""
    if view_id is not None:
        get_view_row(db_session=db_session, experiment_id=experiment_id, view_id=view_id)
    secret = new_secret(SHARE_PREFIX)
    row = ShareLink(
        token_hash=digest(secret),
        prefix=display_prefix(secret),
        experiment_id=experiment_id,
        view_id=view_id,
        created_by=user_id,
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    db_session.add(row)
    db_session.commit()
    user = db_session.get(User, user_id)
    out = share_out(row, user.username if user else None)
    url = f"{public_url.rstrip('/')}/#/shared/{secret}"
    return ShareCreated(**out.model_dump(), token=secret, url=url)


def list_shares(*, db_session: Session, experiment_id: int, offset: int, limit: int) -> Page[ShareOut]:
    """A page of an experiment's links (revoked and expired ones included), newest first."""
    where = ShareLink.experiment_id == experiment_id
    total = db_session.scalar(select(func.count()).select_from(ShareLink).where(where)) or 0
    rows = db_session.execute(
        select(ShareLink, User.username)
        .outerjoin(User, User.id == ShareLink.created_by)
        .where(where)
        .order_by(ShareLink.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return Page[ShareOut](items=[share_out(s, n) for s, n in rows], total=total, offset=offset, limit=limit)


def revoke_share(*, db_session: Session, share_id: int, team_id: int) -> ShareOut:
    """Revoke a link of one of the team's experiments; it stops working with the next request."""
    row = db_session.get(ShareLink, share_id)
    owner = db_session.scalar(select(Experiment.team_id).where(Experiment.id == row.experiment_id)) if row else None
    if row is None or owner != team_id:
        raise NotFoundError(f"share link {share_id} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    db_session.commit()
    user = db_session.get(User, row.created_by) if row.created_by is not None else None
    return share_out(row, user.username if user else None)


def resolve_share(*, db_session: Session, raw: str) -> ShareGrant:
    """The grant of a raw link token; NotFoundError when unknown, revoked or expired (all alike)."""
    row = db_session.scalar(select(ShareLink).where(ShareLink.token_hash == digest(raw)))
    expired = row is not None and row.expires_at is not None and row.expires_at <= utcnow()
    if row is None or row.revoked_at is not None or expired:
        raise NotFoundError("share link not found, expired or revoked")
    return ShareGrant(row.id, row.experiment_id, row.view_id, row.expires_at)
