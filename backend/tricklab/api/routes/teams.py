"""The caller's team: its members and their roles (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from tricklab.api.deps import SessionDep
from tricklab.auth.deps import AdminDep
from tricklab.db.session import begin_write
from tricklab.schemas.api import MAX_PAGE_LIMIT, Page
from tricklab.schemas.auth import MemberOut, RoleIn, UserCreateIn
from tricklab.services import teams as service

router = APIRouter(prefix="/api/v1/team", tags=["team"])

Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]


@router.get("/members", response_model=Page[MemberOut])
def list_members(db_session: SessionDep, principal: AdminDep, offset: Offset = 0, limit: Limit = 50) -> Page[MemberOut]:
    """The team's members with their roles."""
    return service.list_members(db_session=db_session, team_id=principal.team_id, offset=offset, limit=limit)


@router.post("/members", response_model=MemberOut, status_code=status.HTTP_201_CREATED)
def add_member(body: UserCreateIn, db_session: SessionDep, principal: AdminDep) -> MemberOut:
    """Create a user in the team (409 when the username is taken); without a password it can only use tokens."""
    begin_write(db_session)
    user = service.create_user(
        db_session=db_session,
        username=body.username,
        password=body.password,
        team_id=principal.team_id,
        role=body.role,
    )
    db_session.commit()
    return service.member_out(db_session=db_session, team_id=principal.team_id, user_id=user.id)


@router.patch("/members/{user_id}", response_model=MemberOut)
def change_role(user_id: int, body: RoleIn, db_session: SessionDep, principal: AdminDep) -> MemberOut:
    """Give a member another role (409 when the team would be left without an admin)."""
    begin_write(db_session)
    return service.change_role(db_session=db_session, team_id=principal.team_id, user_id=user_id, role=body.role)


@router.delete("/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def remove_member(user_id: int, db_session: SessionDep, principal: AdminDep) -> Response:
    """Take a user out of the team; their tokens and sessions for it stop working at once."""
    begin_write(db_session)
    service.remove_member(db_session=db_session, team_id=principal.team_id, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
