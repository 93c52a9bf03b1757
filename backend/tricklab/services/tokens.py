"""API tokens and browser sessions: create (the raw secret is returned once), look up by digest, revoke."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from tricklab.auth.tokens import digest, display_prefix, new_secret
from tricklab.db.models import ApiToken, BrowserSession, Membership, Team, User
from tricklab.db.types import utcnow
from tricklab.schemas.api import Page
from tricklab.schemas.auth import TokenCreated, TokenKind, TokenOut
from tricklab.services.errors import NotFoundError

# last_used_at is refreshed at most this often: a write per request would serialise SQLite's readers.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def token_out(row: ApiToken, username: str) -> TokenOut:
    """Convert a token row to the API shape (never includes the secret)."""
    return TokenOut(
        id=row.id,
        name=row.name,
        kind=cast(TokenKind, row.kind),
        prefix=row.prefix,
        user_id=row.user_id,
        username=username,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def create_token(
    *,
    db_session: Session,
    user_id: int,
    team_id: int,
    name: str,
    kind: TokenKind = "personal",
    expires_in_days: float | None = None,
    raw: str | None = None,
) -> TokenCreated:
    """A new token for the user in the team; ``raw`` fixes the secret (bootstrap), else a random one."""
    secret = raw or new_secret()
    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    row = ApiToken(
        user_id=user_id,
        team_id=team_id,
        kind=kind,
        name=name,
        prefix=display_prefix(secret),
        token_hash=digest(secret),
        expires_at=expires,
    )
    db_session.add(row)
    db_session.flush()
    user = db_session.get(User, user_id)
    out = token_out(row, user.username if user else "")
    return TokenCreated(**out.model_dump(), token=secret)


def find_token(*, db_session: Session, raw: str) -> ApiToken | None:
    """The token row for a raw secret if it is neither revoked nor expired."""
    row = db_session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(raw)))
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    return row


@dataclass(frozen=True)
class TokenHolder:
    """A live token and whom it acts for; ``role`` is None once that user is not an active member of the team."""

    token_id: int
    kind: str
    user_id: int
    username: str
    team_id: int
    team_name: str
    role: str | None
    last_used_at: datetime | None


# Built once: constructing this four-table select cost as much as running it (issue 7).
_HOLDER = (
    select(
        ApiToken.id,
        ApiToken.kind,
        ApiToken.user_id,
        User.username,
        User.is_active,
        ApiToken.team_id,
        Team.name,
        Membership.role,
        ApiToken.last_used_at,
        ApiToken.expires_at,
        ApiToken.revoked_at,
    )
    .outerjoin(User, User.id == ApiToken.user_id)
    .outerjoin(Team, Team.id == ApiToken.team_id)
    .outerjoin(Membership, (Membership.user_id == ApiToken.user_id) & (Membership.team_id == ApiToken.team_id))
    .where(ApiToken.token_hash == bindparam("digest"))
)


def find_token_holder(*, db_session: Session, raw: str) -> TokenHolder | None:
    """``find_token`` with the user, team and membership in the same query (one statement per request, not four)."""
    row = db_session.execute(_HOLDER, {"digest": digest(raw)}).first()
    if row is None:
        return None
    token_id, kind, user_id, username, active, team_id, team_name, role, last_used, expires, revoked = row
    if revoked is not None or (expires is not None and expires <= utcnow()):
        return None
    member = role is not None and username is not None and team_name is not None and bool(active)
    return TokenHolder(
        token_id, kind, user_id, username or "", team_id, team_name or "", role if member else None, last_used
    )


def token_by_digest(*, db_session: Session, raw: str) -> ApiToken | None:
    """The token row for a raw secret whatever its state (bootstrap checks)."""
    return db_session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(raw)))


def touch_token(*, db_session: Session, token_id: int, now: datetime | None = None) -> None:
    """Record that the token was used now (only when the stored time is older than the resolution)."""
    now = now or utcnow()
    db_session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id)
        .where((ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at < now - LAST_USED_RESOLUTION))
        .values(last_used_at=now)
    )


def list_tokens(*, db_session: Session, team_id: int, user_id: int | None, offset: int, limit: int) -> Page[TokenOut]:
    """A page of a team's tokens (one user's when ``user_id`` is given), newest first."""
    where = [ApiToken.team_id == team_id]
    if user_id is not None:
        where.append(ApiToken.user_id == user_id)
    total = db_session.scalar(select(func.count()).select_from(ApiToken).where(*where)) or 0
    rows = db_session.execute(
        select(ApiToken, User.username)
        .join(User, User.id == ApiToken.user_id)
        .where(*where)
        .order_by(ApiToken.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return Page[TokenOut](items=[token_out(t, n) for t, n in rows], total=total, offset=offset, limit=limit)


def revoke_token(*, db_session: Session, token_id: int, team_id: int, user_id: int | None) -> TokenOut:
    """Revoke a token of the team (of one user when ``user_id`` is given); it stops working at once."""
    row = db_session.get(ApiToken, token_id)
    if row is None or row.team_id != team_id or (user_id is not None and row.user_id != user_id):
        raise NotFoundError(f"token {token_id} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    db_session.commit()
    user = db_session.get(User, row.user_id)
    return token_out(row, user.username if user else "")


def revoke_all_for_member(*, db_session: Session, team_id: int, user_id: int) -> None:
    """Revoke a user's tokens and end their sessions in one team (flushed, not committed)."""
    db_session.execute(
        update(ApiToken)
        .where(ApiToken.team_id == team_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db_session.execute(
        delete(BrowserSession).where(BrowserSession.team_id == team_id, BrowserSession.user_id == user_id)
    )


@dataclass(frozen=True)
class NewSession:
    """A browser session just created: the cookie value (raw) and its CSRF token."""

    raw: str
    csrf_token: str
    expires_at: datetime


def create_session(*, db_session: Session, user_id: int, team_id: int, lifetime: timedelta) -> NewSession:
    """Store a new browser session (its id hashed) and return the cookie value, once; expired sessions go."""
    raw = new_secret("")
    csrf = new_secret("")
    now = utcnow()
    expires = now + lifetime
    # Swept at each login, so the table holds live sessions plus those expired since the last login.
    db_session.execute(delete(BrowserSession).where(BrowserSession.expires_at <= now))
    db_session.add(
        BrowserSession(session_hash=digest(raw), user_id=user_id, team_id=team_id, csrf_token=csrf, expires_at=expires)
    )
    db_session.flush()
    return NewSession(raw=raw, csrf_token=csrf, expires_at=expires)


def find_session(*, db_session: Session, raw: str) -> BrowserSession | None:
    """The unexpired session for a cookie value."""
    row = db_session.scalar(select(BrowserSession).where(BrowserSession.session_hash == digest(raw)))
    if row is None or row.expires_at <= utcnow():
        return None
    return row


def delete_session(*, db_session: Session, raw: str) -> None:
    """End a browser session (logout)."""
    db_session.execute(delete(BrowserSession).where(BrowserSession.session_hash == digest(raw)))
