"""Token and browser-session services: what a login leaves in the store."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from tricklab.db.models import BrowserSession
from tricklab.services import teams, tokens


def test_a_login_sweeps_expired_sessions_and_keeps_live_ones(db_session: Session) -> None:
    team_id = teams.default_team_id(db_session=db_session)
    user = teams.create_user(db_session=db_session, username="ada", password=None, team_id=team_id, role="member")
    expired = tokens.create_session(db_session=db_session, user_id=user.id, team_id=team_id, lifetime=timedelta(0))
    live = tokens.create_session(db_session=db_session, user_id=user.id, team_id=team_id, lifetime=timedelta(hours=1))
    assert tokens.find_session(db_session=db_session, raw=expired.raw) is None
    newest = tokens.create_session(db_session=db_session, user_id=user.id, team_id=team_id, lifetime=timedelta(hours=1))
    left = set(db_session.scalars(select(BrowserSession.session_hash)))
    assert left == {tokens.digest(live.raw), tokens.digest(newest.raw)}
    assert tokens.find_session(db_session=db_session, raw=live.raw) is not None
