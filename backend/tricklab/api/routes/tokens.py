"""API tokens: create (the secret is shown once), list, revoke.

Everyone manages their own personal tokens; admins also see and revoke the team's
tokens and create worker tokens (which can only report runs).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from tricklab.api.deps import SessionDep
from tricklab.auth.deps import CurrentUserDep, forbidden
from tricklab.db.session import begin_write
from tricklab.schemas.api import MAX_PAGE_LIMIT, Page
from tricklab.schemas.auth import TokenCreated, TokenCreateIn, TokenOut
from tricklab.services import tokens as service

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])

Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreateIn, db_session: SessionDep, principal: CurrentUserDep) -> TokenCreated:
    """A new token for the caller in their team; ``kind: worker`` needs the admin role."""
    if body.kind == "worker" and principal.role != "admin":
        raise forbidden("requires the admin role to create worker tokens")
    begin_write(db_session)
    created = service.create_token(
        db_session=db_session,
        user_id=principal.user_id,
        team_id=principal.team_id,
        name=body.name,
        kind=body.kind,
        expires_in_days=body.expires_in_days,
    )
    db_session.commit()
    return created


@router.get("", response_model=Page[TokenOut])
def list_tokens(
    db_session: SessionDep, principal: CurrentUserDep, offset: Offset = 0, limit: Limit = 50
) -> Page[TokenOut]:
    """The caller's tokens (an admin sees every token of the team), newest first."""
    user_id = None if principal.role == "admin" else principal.user_id
    return service.list_tokens(
        db_session=db_session, team_id=principal.team_id, user_id=user_id, offset=offset, limit=limit
    )


@router.delete("/{token_id}", response_model=TokenOut)
def revoke_token(token_id: int, db_session: SessionDep, principal: CurrentUserDep) -> TokenOut:
    """Revoke one of the caller's tokens (admins: any of the team's); it stops working at once."""
    begin_write(db_session)
    user_id = None if principal.role == "admin" else principal.user_id
    return service.revoke_token(db_session=db_session, token_id=token_id, team_id=principal.team_id, user_id=user_id)
