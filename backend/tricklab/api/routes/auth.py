"""Logging in and out of the dashboard, and who the caller is.

A password login (or a token handed over in the dashboard URL) becomes an HTTP-only
session cookie; ``GET /auth/me`` tells the dashboard its CSRF token for cookie writes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from fastapi import APIRouter, Request, Response, status

from tricklab.api.deps import SessionDep, SettingsDep
from tricklab.auth.deps import SESSION_COOKIE, CurrentUserDep, Principal, unauthorized
from tricklab.config import Settings
from tricklab.db.models import Team, User
from tricklab.db.session import begin_write
from tricklab.schemas.auth import LoginIn, MeOut, Role, TeamRef, TokenLoginIn, UserRef
from tricklab.services import teams, tokens

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _me(principal: Principal) -> MeOut:
    return MeOut(
        user=UserRef(id=principal.user_id, username=principal.username),
        team=TeamRef(id=principal.team_id, name=principal.team_name),
        role=cast(Role, principal.role),
        auth=principal.kind,
        csrf_token=principal.csrf_token,
    )


def _start_session(
    response: Response, db_session: SessionDep, settings: Settings, *, user_id: int, team_id: int, username: str
) -> MeOut:
    # The credential check was a read; a deferred SQLite transaction that reads and then writes
    # fails at once when a worker commits in between, so the session row is written as a writer.
    db_session.rollback()
    begin_write(db_session)
    created = tokens.create_session(
        db_session=db_session, user_id=user_id, team_id=team_id, lifetime=timedelta(hours=settings.session_hours)
    )
    member = teams.membership(db_session=db_session, user_id=user_id, team_id=team_id)
    team = db_session.get(Team, team_id)
    db_session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        created.raw,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    role = cast(Role, member.role if member else "viewer")
    return MeOut(
        user=UserRef(id=user_id, username=username),
        team=TeamRef(id=team_id, name=team.name if team else ""),
        role=role,
        auth="session",
        csrf_token=created.csrf_token,
    )


@router.post("/login", response_model=MeOut)
def login(body: LoginIn, response: Response, db_session: SessionDep, settings: SettingsDep) -> MeOut:
    """Check a username and password; on success set the session cookie (401 otherwise)."""
    user = teams.authenticate(db_session=db_session, username=body.username, password=body.password)
    member = teams.first_membership(db_session=db_session, user_id=user.id) if user else None
    if user is None or member is None:
        raise unauthorized("wrong username or password")
    return _start_session(
        response, db_session, settings, user_id=user.id, team_id=member.team_id, username=user.username
    )


@router.post("/token-login", response_model=MeOut)
def token_login(body: TokenLoginIn, response: Response, db_session: SessionDep, settings: SettingsDep) -> MeOut:
    """Swap a personal token (the ``/?token=`` dashboard URL) for a session cookie."""
    row = tokens.find_token(db_session=db_session, raw=body.token)
    if row is None or row.kind != "personal":
        raise unauthorized("invalid, revoked or expired token")
    user = db_session.get(User, row.user_id)
    if (
        user is None
        or not user.is_active
        or teams.membership(db_session=db_session, user_id=row.user_id, team_id=row.team_id) is None
    ):
        raise unauthorized("invalid, revoked or expired token")
    return _start_session(
        response, db_session, settings, user_id=row.user_id, team_id=row.team_id, username=user.username
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def logout(request: Request, db_session: SessionDep, principal: CurrentUserDep) -> Response:
    """End the browser session (a bearer caller has nothing to end)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        begin_write(db_session)
        tokens.delete_session(db_session=db_session, raw=raw)
        db_session.commit()
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=MeOut)
def me(principal: CurrentUserDep) -> MeOut:
    """The caller: user, team, role, how they authenticated and (for sessions) the CSRF token."""
    return _me(principal)
