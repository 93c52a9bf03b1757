"""Users, teams and tokens for the API tests (created through the services, inside the test's transaction)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session
from tricklab.schemas.auth import Role
from tricklab.services import teams, tokens

# What ``TRICKLAB_ADMIN_TOKEN`` bootstraps in the tests that start the app with its lifespan.
ADMIN_TOKEN = "tl_test-admin-token-0123456789abcdef"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass(frozen=True)
class Principals:
    """Raw tokens of the test principals (the database only holds their digests)."""

    admin: str
    member: str
    viewer: str
    worker: str
    other_admin: str
    team_id: int
    other_team_id: int


def add_user(
    db_session: Session, username: str, team_id: int, role: Role, *, password: str | None = None
) -> tuple[int, str]:
    """A user with a personal token; returns (user id, raw token)."""
    user = teams.create_user(db_session=db_session, username=username, password=password, team_id=team_id, role=role)
    token = tokens.create_token(db_session=db_session, user_id=user.id, team_id=team_id, name=f"{username} token")
    return user.id, token.token


def make_principals(db_session: Session) -> Principals:
    team_id = teams.default_team_id(db_session=db_session)
    other_id = teams.get_or_create_team(db_session=db_session, name="rival-lab").id
    admin_id, admin = add_user(db_session, "t-admin", team_id, "admin")
    _, member = add_user(db_session, "t-member", team_id, "member")
    _, viewer = add_user(db_session, "t-viewer", team_id, "viewer")
    worker = tokens.create_token(
        db_session=db_session, user_id=admin_id, team_id=team_id, name="gpu box", kind="worker"
    ).token
    _, other_admin = add_user(db_session, "t-rival-admin", other_id, "admin")
    db_session.commit()
    return Principals(admin, member, viewer, worker, other_admin, team_id, other_id)
