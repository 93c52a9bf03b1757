"""First start: a default team, an ``admin`` account with a random password and an admin token.

Like Jupyter's token URL, the secrets are printed once by whoever starts the server;
``TRICKLAB_ADMIN_TOKEN`` (settings.admin_token) makes the admin token a known value for
automation, and re-applying it is a no-op (a revoked one stays revoked).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tricklab.db.models import Membership, User
from tricklab.services import teams, tokens

ADMIN_USERNAME = "admin"
MIN_ADMIN_TOKEN_CHARS = 20


@dataclass(frozen=True)
class Bootstrapped:
    """What a fresh install created: shown once, never stored in the clear."""

    username: str
    password: str
    token: str
    token_from_settings: bool


def _first_admin(db_session: Session, team_id: int) -> User | None:
    return db_session.scalar(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.team_id == team_id, Membership.role == "admin")
        .order_by(User.id)
    )


def bootstrap(*, db_session: Session, admin_token: str | None) -> Bootstrapped | None:
    """Create the first admin on an empty store and apply ``admin_token``; commits, returns what was created."""
    if admin_token is not None and len(admin_token) < MIN_ADMIN_TOKEN_CHARS:
        raise ValueError(f"TRICKLAB_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters")
    team_id = teams.default_team_id(db_session=db_session)
    created: Bootstrapped | None = None
    if (db_session.scalar(select(func.count()).select_from(User)) or 0) == 0:
        password = secrets.token_urlsafe(12)
        user = teams.create_user(
            db_session=db_session, username=ADMIN_USERNAME, password=password, team_id=team_id, role="admin"
        )
        token = tokens.create_token(
            db_session=db_session, user_id=user.id, team_id=team_id, name="bootstrap admin token", raw=admin_token
        )
        created = Bootstrapped(ADMIN_USERNAME, password, token.token, admin_token is not None)
    elif admin_token is not None and tokens.token_by_digest(db_session=db_session, raw=admin_token) is None:
        admin = _first_admin(db_session, team_id)
        if admin is None:
            admin = teams.create_user(
                db_session=db_session,
                username=f"admin-{secrets.token_hex(3)}",
                password=None,
                team_id=team_id,
                role="admin",
            )
        tokens.create_token(
            db_session=db_session, user_id=admin.id, team_id=team_id, name="TRICKLAB_ADMIN_TOKEN", raw=admin_token
        )
    db_session.commit()
    return created


def announcement(created: Bootstrapped, public_url: str) -> str:
    """The once-only message with the admin's credentials and a dashboard URL that logs in."""
    base = public_url.rstrip("/")
    token_line = "(from TRICKLAB_ADMIN_TOKEN)" if created.token_from_settings else created.token
    lines = [
        "",
        "tricklab: created the first account (shown once; change the password or keep it safe)",
        f"    username:    {created.username}",
        f"    password:    {created.password}",
        f"    admin token: {token_line}",
    ]
    if not created.token_from_settings:
        lines.append(f"    open:        {base}/?token={created.token}")
    lines.append("")
    return "\n".join(lines)
