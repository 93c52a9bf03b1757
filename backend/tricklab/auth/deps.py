"""Who is calling: the request's principal from a bearer token or the session cookie, and role checks.

Routes declare what they need with the ``Annotated`` aliases (``ViewerDep``, ``MemberDep``,
``AdminDep``, ``WorkerDep``). Missing, bad, revoked or expired credentials answer 401; a
principal without the role (or a worker token outside the reporting routes) 403; cookie
writes without the session's CSRF token 403. Team isolation (404 for another team's
object) is checked by the routes through ``tricklab.services.access``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tricklab.api.deps import get_session_factory
from tricklab.auth.tokens import same
from tricklab.db.models import Team, User
from tricklab.db.session import unit_of_work
from tricklab.db.types import utcnow
from tricklab.services import teams, tokens

log = logging.getLogger(__name__)

SESSION_COOKIE = "tricklab_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Requirement = Literal["viewer", "member", "admin", "worker"]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user acting in one team with one role, through one credential."""

    user_id: int
    username: str
    team_id: int
    team_name: str
    role: str
    kind: Literal["session", "personal", "worker"]
    token_id: int | None = None
    csrf_token: str | None = None


def unauthorized(detail: str = "authentication required") -> HTTPException:
    """401 with the challenge a bearer-token client expects."""
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str) -> HTTPException:
    """403 for an authenticated caller that may not do this."""
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if present."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise unauthorized("malformed Authorization header (expected 'Bearer <token>')")
    return value.strip()


def _principal_for(
    db_session: Session, user_id: int, team_id: int, kind: Literal["session", "personal", "worker"]
) -> Principal:
    user = db_session.get(User, user_id)
    team = db_session.get(Team, team_id)
    member = teams.membership(db_session=db_session, user_id=user_id, team_id=team_id)
    if user is None or team is None or member is None or not user.is_active:
        raise unauthorized("credentials no longer valid")
    return Principal(user.id, user.username, team.id, team.name, member.role, kind)


def _touch(factory: sessionmaker[Session], token_id: int) -> None:
    # Best effort: a busy store must not fail the request over a "last used" time.
    try:
        with unit_of_work(factory, write=True) as db_session:
            tokens.touch_token(db_session=db_session, token_id=token_id)
    except OperationalError:
        log.debug("could not record the use of token %s", token_id, exc_info=True)


def get_principal(
    request: Request, factory: Annotated[sessionmaker[Session], Depends(get_session_factory)]
) -> Principal:
    """Resolve the caller from the bearer token, else from the session cookie (401 when neither works)."""
    raw = bearer_token(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    stale_token: int | None = None
    with factory() as db_session:
        if raw is not None:
            holder = tokens.find_token_holder(db_session=db_session, raw=raw)
            if holder is None:
                raise unauthorized("invalid, revoked or expired token")
            if holder.role is None:
                raise unauthorized("credentials no longer valid")
            kind: Literal["personal", "worker"] = "worker" if holder.kind == "worker" else "personal"
            principal = Principal(
                holder.user_id, holder.username, holder.team_id, holder.team_name, holder.role, kind, holder.token_id
            )
            last = holder.last_used_at
            if last is None or utcnow() - last >= tokens.LAST_USED_RESOLUTION:
                stale_token = holder.token_id
        elif cookie:
            session_row = tokens.find_session(db_session=db_session, raw=cookie)
            if session_row is None:
                raise unauthorized("session expired; log in again")
            principal = _principal_for(db_session, session_row.user_id, session_row.team_id, "session")
            principal = Principal(**{**principal.__dict__, "csrf_token": session_row.csrf_token})
        else:
            raise unauthorized()
        db_session.rollback()
    if stale_token is not None:
        _touch(factory, stale_token)
    if principal.kind == "session" and request.method not in SAFE_METHODS:
        # Bearer requests cannot be forged cross-site; cookie ones can, hence the double submit.
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or principal.csrf_token is None or not same(sent, principal.csrf_token):
            raise forbidden(f"missing or wrong {CSRF_HEADER} header")
    return principal


ROLE_RANK = teams.ROLE_RANK


class RoleRequirement:
    """A dependency that admits principals with at least ``role`` (``worker``: worker tokens and admins)."""

    def __init__(self, role: Requirement) -> None:
        self.role = role

    # async: a pure check, so FastAPI runs it on the event loop instead of handing it to a worker thread.
    async def __call__(self, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        return self.check(principal)

    def check(self, principal: Principal) -> Principal:
        """``principal`` if it meets the requirement; 403 otherwise."""
        if self.role == "worker":
            if principal.kind == "worker" or principal.role == "admin":
                return principal
            raise forbidden("only worker tokens (or admins) may report runs")
        if principal.kind == "worker":
            raise forbidden("worker tokens can only report runs")
        if ROLE_RANK[principal.role] < ROLE_RANK[self.role]:
            raise forbidden(f"requires the {self.role} role (you are {principal.role})")
        return principal

    def __repr__(self) -> str:
        return f"RoleRequirement({self.role!r})"


_REQUIREMENTS = {role: RoleRequirement(role) for role in ("viewer", "member", "admin", "worker")}


def require_role(role: Requirement) -> RoleRequirement:
    """The shared dependency for ``role`` (one instance per role, so FastAPI caches it per request)."""
    return _REQUIREMENTS[role]


class DeferredPrincipal:
    """Like ``RoleRequirement``, for a route that does all its database work in one worker-thread hand-off.

    The dependency returns a function that resolves and checks the principal, to be called first
    thing in that thread: the lookup then costs no hand-off of its own (issue 7, the metric batch
    route). Same credentials, same 401/403 answers; ``requirement`` names the role for the route table.
    """

    def __init__(self, role: Requirement) -> None:
        self.requirement = role

    async def __call__(
        self, request: Request, factory: Annotated[sessionmaker[Session], Depends(get_session_factory)]
    ) -> Callable[[], Principal]:
        requirement = require_role(self.requirement)
        return lambda: requirement.check(get_principal(request, factory))

    def __repr__(self) -> str:
        return f"DeferredPrincipal({self.requirement!r})"


ViewerDep = Annotated[Principal, Depends(require_role("viewer"))]
CurrentUserDep = ViewerDep
MemberDep = Annotated[Principal, Depends(require_role("member"))]
AdminDep = Annotated[Principal, Depends(require_role("admin"))]
WorkerDep = Annotated[Principal, Depends(require_role("worker"))]
# Call it inside the route's worker thread: ``principal = authorize()``.
DeferredWorkerDep = Annotated[Callable[[], Principal], Depends(DeferredPrincipal("worker"))]
