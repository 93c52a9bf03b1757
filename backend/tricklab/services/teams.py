"""Teams, users and memberships (roles are per team; experiments belong to one team)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tricklab.auth.passwords import hash_password, verify_password
from tricklab.db.models import Membership, Team, User
from tricklab.schemas.api import Page
from tricklab.schemas.auth import MemberOut, Role
from tricklab.services.errors import ConflictError, NotFoundError
from tricklab.services.tokens import revoke_all_for_member

DEFAULT_TEAM = "default"
ROLE_RANK: dict[str, int] = {"viewer": 0, "member": 1, "admin": 2}


def get_or_create_team(*, db_session: Session, name: str) -> Team:
    """The team called ``name``, created (flushed, not committed) when missing."""
    team = db_session.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = Team(name=name)
        db_session.add(team)
        db_session.flush()
    return team


def default_team_id(*, db_session: Session) -> int:
    """The id of the team every fresh install starts with (the migration creates it)."""
    return get_or_create_team(db_session=db_session, name=DEFAULT_TEAM).id


def get_user_by_name(*, db_session: Session, username: str) -> User | None:
    """The user called ``username``, if any."""
    return db_session.scalar(select(User).where(User.username == username))


def create_user(*, db_session: Session, username: str, password: str | None, team_id: int, role: Role) -> User:
    """A new user with a membership in ``team_id`` (flushed; 409 when the name is taken)."""
    if get_user_by_name(db_session=db_session, username=username) is not None:
        raise ConflictError(f"user {username} already exists")
    user = User(username=username, password_hash=hash_password(password) if password else None, is_active=True)
    db_session.add(user)
    db_session.flush()
    db_session.add(Membership(user_id=user.id, team_id=team_id, role=role))
    db_session.flush()
    return user


def set_password(*, db_session: Session, user: User, password: str) -> None:
    """Replace the user's password hash."""
    user.password_hash = hash_password(password)
    db_session.flush()


def authenticate(*, db_session: Session, username: str, password: str) -> User | None:
    """The active user whose password matches, else None (same work for unknown names)."""
    user = get_user_by_name(db_session=db_session, username=username)
    ok = verify_password(user.password_hash if user else None, password)
    return user if ok and user is not None and user.is_active else None


def membership(*, db_session: Session, user_id: int, team_id: int) -> Membership | None:
    """The user's membership in a team, if any."""
    return db_session.get(Membership, (user_id, team_id))


def first_membership(*, db_session: Session, user_id: int) -> Membership | None:
    """The user's oldest membership (the team a password login lands in)."""
    return db_session.scalar(
        select(Membership).where(Membership.user_id == user_id).order_by(Membership.created_at, Membership.team_id)
    )


def ensure_membership(*, db_session: Session, user_id: int, team_id: int, role: Role) -> Membership:
    """Add the user to the team with ``role``, or change the role of an existing membership."""
    row = membership(db_session=db_session, user_id=user_id, team_id=team_id)
    if row is None:
        row = Membership(user_id=user_id, team_id=team_id, role=role)
        db_session.add(row)
    else:
        row.role = role
    db_session.flush()
    return row


def list_members(*, db_session: Session, team_id: int, offset: int, limit: int) -> Page[MemberOut]:
    """A page of a team's members, by username."""
    where = Membership.team_id == team_id
    total = db_session.scalar(select(func.count()).select_from(Membership).where(where)) or 0
    rows = db_session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(where)
        .order_by(User.username)
        .offset(offset)
        .limit(limit)
    ).all()
    items = [
        MemberOut(user_id=u.id, username=u.username, role=cast(Role, m.role), created_at=m.created_at) for m, u in rows
    ]
    return Page[MemberOut](items=items, total=total, offset=offset, limit=limit)


def member_out(*, db_session: Session, team_id: int, user_id: int) -> MemberOut:
    """One member of a team (404 for users outside it)."""
    row = membership(db_session=db_session, user_id=user_id, team_id=team_id)
    user = db_session.get(User, user_id)
    if row is None or user is None:
        raise NotFoundError(f"user {user_id} not found")
    return MemberOut(user_id=user.id, username=user.username, role=cast(Role, row.role), created_at=row.created_at)


def _admins(db_session: Session, team_id: int) -> int:
    where = (Membership.team_id == team_id, Membership.role == "admin")
    return db_session.scalar(select(func.count()).select_from(Membership).where(*where)) or 0


def change_role(*, db_session: Session, team_id: int, user_id: int, role: Role) -> MemberOut:
    """Set a member's role (409 when it would leave the team without an admin)."""
    row = membership(db_session=db_session, user_id=user_id, team_id=team_id)
    if row is None:
        raise NotFoundError(f"user {user_id} not found")
    if row.role == "admin" and role != "admin" and _admins(db_session, team_id) <= 1:
        raise ConflictError("a team needs at least one admin")
    row.role = role
    db_session.commit()
    return member_out(db_session=db_session, team_id=team_id, user_id=user_id)


def remove_member(*, db_session: Session, team_id: int, user_id: int) -> None:
    """Take a user out of a team (their tokens and sessions for it stop working at once)."""
    row = membership(db_session=db_session, user_id=user_id, team_id=team_id)
    if row is None:
        raise NotFoundError(f"user {user_id} not found")
    if row.role == "admin" and _admins(db_session, team_id) <= 1:
        raise ConflictError("a team needs at least one admin")
    db_session.delete(row)
    revoke_all_for_member(db_session=db_session, team_id=team_id, user_id=user_id)
    db_session.commit()
