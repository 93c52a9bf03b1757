"""Tokens, sessions, CSRF, share links, saved views, members and the first-start bootstrap."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session
from tricklab.api.app import create_app
from tricklab.auth.tokens import digest
from tricklab.config import Settings
from tricklab.db.models import ApiToken, Membership, ShareLink, User
from tricklab.db.types import utcnow
from tricklab.services import bootstrap, teams

from tests.backend.auth_helpers import ADMIN_HEADERS, ADMIN_TOKEN, Principals, add_user
from tests.backend.store_helpers import SPEC, RecordingCelery


def _experiment(client: TestClient, spec_dict: dict[str, Any], **overrides: Any) -> int:
    r = client.post("/api/v1/experiments", json={**spec_dict, "factors": ["relu"], "seeds": 1, **overrides})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_raw_tokens_never_reach_the_database(client: TestClient, db_session: Session) -> None:
    created = client.post("/api/v1/tokens", json={"name": "laptop"})
    assert created.status_code == 201
    raw = created.json()["token"]
    assert raw.startswith("tl_") and len(raw) >= 40 and created.json()["prefix"] == raw[:10]
    rows = db_session.execute(text("SELECT * FROM api_tokens")).all()
    dump = repr(rows)
    assert raw not in dump and raw[10:] not in dump
    assert digest(raw) in dump
    listed = client.get("/api/v1/tokens").json()
    assert all("token" not in t for t in listed["items"]) and listed["total"] >= 1


def test_revoked_token_stops_working_at_once(app: FastAPI, client: TestClient) -> None:
    raw = client.post("/api/v1/tokens", json={"name": "short-lived"}).json()
    other = TestClient(app, headers={"Authorization": f"Bearer {raw['token']}"})
    assert other.get("/api/v1/experiments").status_code == 200
    assert client.delete(f"/api/v1/tokens/{raw['id']}").json()["revoked_at"] is not None
    assert other.get("/api/v1/experiments").status_code == 401


def test_expired_token_and_last_used(app: FastAPI, client: TestClient, db_session: Session) -> None:
    raw = client.post("/api/v1/tokens", json={"name": "exp", "expires_in_days": 1}).json()
    other = TestClient(app, headers={"Authorization": f"Bearer {raw['token']}"})
    assert other.get("/api/v1/auth/me").json()["auth"] == "personal"
    row = db_session.get(ApiToken, raw["id"], populate_existing=True)
    assert row is not None and row.last_used_at is not None
    db_session.execute(update(ApiToken).where(ApiToken.id == raw["id"]).values(expires_at=utcnow() - timedelta(1)))
    db_session.commit()
    assert other.get("/api/v1/auth/me").status_code == 401


def test_a_live_token_follows_its_holders_membership(app: FastAPI, principals: Principals, db_session: Session) -> None:
    """The token, its user, team and membership are read together: role changes, deactivation and a removed
    membership take effect on the next request even though the token itself is neither revoked nor expired."""
    user_id, raw = add_user(db_session, "t-holder", principals.team_id, "member")
    db_session.commit()
    holder = TestClient(app, headers={"Authorization": f"Bearer {raw}"})
    me = holder.get("/api/v1/auth/me").json()
    assert me["role"] == "member" and me["user"]["username"] == "t-holder"
    db_session.execute(
        update(Membership)
        .where(Membership.user_id == user_id, Membership.team_id == principals.team_id)
        .values(role="viewer")
    )
    db_session.commit()
    assert holder.get("/api/v1/auth/me").json()["role"] == "viewer"
    db_session.execute(update(User).where(User.id == user_id).values(is_active=False))
    db_session.commit()
    r = holder.get("/api/v1/auth/me")
    assert r.status_code == 401 and r.json()["detail"] == "credentials no longer valid"
    db_session.execute(update(User).where(User.id == user_id).values(is_active=True))
    db_session.execute(
        delete(Membership).where(Membership.user_id == user_id, Membership.team_id == principals.team_id)
    )
    db_session.commit()
    assert holder.get("/api/v1/auth/me").status_code == 401
    assert holder.get("/api/v1/auth/me", headers={"Authorization": "Bearer tl_unknown"}).json()["detail"] == (
        "invalid, revoked or expired token"
    )


def test_members_manage_only_their_own_tokens(member_client: TestClient, client: TestClient) -> None:
    mine = member_client.post("/api/v1/tokens", json={"name": "m"}).json()
    assert member_client.post("/api/v1/tokens", json={"kind": "worker"}).status_code == 403
    admins = client.post("/api/v1/tokens", json={"name": "a"}).json()
    assert member_client.delete(f"/api/v1/tokens/{admins['id']}").status_code == 404
    assert {t["id"] for t in member_client.get("/api/v1/tokens").json()["items"]} >= {mine["id"]}
    assert admins["id"] not in {t["id"] for t in member_client.get("/api/v1/tokens").json()["items"]}
    assert member_client.delete(f"/api/v1/tokens/{mine['id']}").status_code == 200


def test_worker_token_reports_its_teams_runs_only(
    worker_client: TestClient, client: TestClient, other_team_client: TestClient, spec_dict: dict[str, Any]
) -> None:
    exp = _experiment(client, spec_dict)
    run = client.get(f"/api/v1/experiments/{exp}/runs").json()["items"][0]["id"]
    assert worker_client.get(f"/api/v1/experiments/{exp}").status_code == 403
    assert worker_client.get("/api/v1/experiments").status_code == 403
    assert worker_client.post(f"/api/v1/runs/{run}/claim", json={"attempt": 1, "worker_id": "w"}).status_code == 200
    assert worker_client.post(f"/api/v1/runs/{run}/heartbeat", json={"attempt": 1, "progress": 0.5}).status_code == 200
    rival = _experiment(other_team_client, spec_dict)
    rival_run = other_team_client.get(f"/api/v1/experiments/{rival}/runs").json()["items"][0]["id"]
    r = worker_client.post(f"/api/v1/runs/{rival_run}/claim", json={"attempt": 1, "worker_id": "w"})
    assert r.status_code == 404


def test_teams_see_only_their_experiments(
    client: TestClient, other_team_client: TestClient, member_client: TestClient, spec_dict: dict[str, Any]
) -> None:
    ours = _experiment(member_client, spec_dict, name="ours")
    theirs = _experiment(other_team_client, spec_dict, name="theirs")
    assert {e["id"] for e in client.get("/api/v1/experiments").json()["items"]} >= {ours}
    assert theirs not in {e["id"] for e in client.get("/api/v1/experiments").json()["items"]}
    assert [e["id"] for e in other_team_client.get("/api/v1/experiments").json()["items"]] == [theirs]
    assert client.get(f"/api/v1/experiments/{theirs}").json() == {"detail": f"experiment {theirs} not found"}


def test_password_login_session_cookie_and_csrf(
    app: FastAPI, db_session: Session, principals: Principals, spec_dict: dict[str, Any]
) -> None:
    add_user(db_session, "alice", principals.team_id, "member", password="correct horse")
    db_session.commit()
    browser = TestClient(app)
    assert browser.post("/api/v1/auth/login", json={"username": "alice", "password": "wrong"}).status_code == 401
    assert browser.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"}).status_code == 401
    r = browser.post("/api/v1/auth/login", json={"username": "alice", "password": "correct horse"})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    csrf = r.json()["csrf_token"]
    me = browser.get("/api/v1/auth/me").json()
    assert me["user"]["username"] == "alice" and me["role"] == "member" and me["csrf_token"] == csrf
    spec = {**spec_dict, "factors": [], "seeds": 1}
    assert browser.post("/api/v1/experiments", json=spec).status_code == 403  # no CSRF header
    bad = browser.post("/api/v1/experiments", json=spec, headers={"X-CSRF-Token": "guess"})
    assert bad.status_code == 403
    ok = browser.post("/api/v1/experiments", json=spec, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    assert browser.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert browser.get("/api/v1/auth/me").status_code == 401


def test_token_login_swaps_the_url_token_for_a_session(app: FastAPI, principals: Principals) -> None:
    browser = TestClient(app)
    assert browser.post("/api/v1/auth/token-login", json={"token": "tl_wrong"}).status_code == 401
    assert browser.post("/api/v1/auth/token-login", json={"token": principals.worker}).status_code == 401
    r = browser.post("/api/v1/auth/token-login", json={"token": principals.admin})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert browser.get("/api/v1/auth/me").json()["auth"] == "session"


def test_secure_cookie_behind_https(
    settings: Settings, session_factory: Any, principals: Principals, celery_app: RecordingCelery
) -> None:
    from tricklab.api.deps import get_session_factory

    app = create_app(settings.model_copy(update={"public_url": "https://lab.example.org"}), start_reaper=False)
    app.dependency_overrides[get_session_factory] = lambda: session_factory
    r = TestClient(app).post("/api/v1/auth/token-login", json={"token": principals.admin})
    assert "secure" in r.headers["set-cookie"].lower()
    app.state.engine.dispose()


def test_share_link_reaches_one_experiment_only(
    client: TestClient, anon_client: TestClient, member_client: TestClient, spec_dict: dict[str, Any]
) -> None:
    exp = _experiment(client, spec_dict, name="shared")
    other = _experiment(client, spec_dict, name="private")
    view = member_client.post(
        f"/api/v1/experiments/{exp}/views",
        json={"name": "relu only", "config": {"combinations": ["relu"], "metric": "test_accuracy", "smoothing": 0.5}},
    ).json()
    link = member_client.post(f"/api/v1/experiments/{exp}/shares", json={"view_id": view["id"]}).json()
    assert link["url"].endswith(f"/#/shared/{link['token']}") and link["expires_at"] is not None
    token = link["token"]
    shared = anon_client.get(f"/api/v1/shared/{token}").json()
    assert shared["experiment"]["id"] == exp and shared["view"]["config"]["combinations"] == ["relu"]
    runs = anon_client.get(f"/api/v1/shared/{token}/runs").json()["items"]
    assert runs and {r["experiment_id"] for r in runs} == {exp}
    for part in ("curves", "analysis"):
        # the link serves the member's own answer, with the same ETag, and revalidates to 304
        via_link = anon_client.get(f"/api/v1/shared/{token}/{part}")
        as_member = member_client.get(f"/api/v1/experiments/{exp}/{part}")
        assert via_link.status_code == 200 and via_link.json() == as_member.json()
        assert via_link.headers["etag"] == as_member.headers["etag"]
        again = anon_client.get(f"/api/v1/shared/{token}/{part}", headers={"If-None-Match": via_link.headers["etag"]})
        assert again.status_code == 304 and not again.content
    # The link is no credential for the rest of the API.
    as_bearer = {"Authorization": f"Bearer {token}"}
    for path in (f"/api/v1/experiments/{other}", f"/api/v1/experiments/{exp}", "/api/v1/experiments"):
        assert anon_client.get(path, headers=as_bearer).status_code == 401
    assert anon_client.get(f"/api/v1/shared/{token}/runs/{runs[0]['id']}").status_code == 404
    # A view of another experiment cannot be attached to this one's link.
    assert member_client.post(f"/api/v1/experiments/{other}/shares", json={"view_id": view["id"]}).status_code == 404


def test_revoked_and_expired_links_stop_working(
    client: TestClient, anon_client: TestClient, db_session: Session, spec_dict: dict[str, Any]
) -> None:
    exp = _experiment(client, spec_dict)
    first = client.post(f"/api/v1/experiments/{exp}/shares", json={"expires_in_days": None}).json()
    assert first["expires_at"] is None
    assert anon_client.get(f"/api/v1/shared/{first['token']}").status_code == 200
    assert client.delete(f"/api/v1/shares/{first['id']}").json()["revoked_at"] is not None
    assert anon_client.get(f"/api/v1/shared/{first['token']}").status_code == 404
    # a cached answer's ETag is no way around the revocation
    for part in ("curves", "analysis"):
        etag = client.get(f"/api/v1/experiments/{exp}/{part}").headers["etag"]
        r = anon_client.get(f"/api/v1/shared/{first['token']}/{part}", headers={"If-None-Match": etag})
        assert r.status_code == 404
    second = client.post(f"/api/v1/experiments/{exp}/shares", json={"expires_in_days": 1}).json()
    assert anon_client.get(f"/api/v1/shared/{second['token']}/runs").status_code == 200
    db_session.execute(update(ShareLink).where(ShareLink.id == second["id"]).values(expires_at=utcnow()))
    db_session.commit()
    assert anon_client.get(f"/api/v1/shared/{second['token']}/runs").status_code == 404
    listed = client.get(f"/api/v1/experiments/{exp}/shares").json()
    assert listed["total"] == 2 and all("token" not in s for s in listed["items"])
    stored = repr(db_session.execute(text("SELECT * FROM share_links")).all())
    assert first["token"] not in stored and second["token"] not in stored


def test_saved_views_crud(client: TestClient, viewer_client: TestClient, spec_dict: dict[str, Any]) -> None:
    exp = _experiment(client, spec_dict)
    base = f"/api/v1/experiments/{exp}/views"
    created = client.post(base, json={"name": "b", "config": {"metric": "ece", "smoothing": 0.3}})
    assert created.status_code == 201 and created.json()["created_by"] == "t-admin"
    view_id = created.json()["id"]
    client.post(base, json={"name": "a"})
    page = viewer_client.get(base, params={"limit": 1}).json()
    assert page["total"] == 2 and [v["name"] for v in page["items"]] == ["a"]
    assert viewer_client.get(f"{base}/{view_id}").json()["config"]["metric"] == "ece"
    updated = client.put(f"{base}/{view_id}", json={"name": "c", "config": {"combinations": ["base"]}}).json()
    assert updated["name"] == "c" and updated["config"]["smoothing"] == 0.0
    assert client.post(base, json={"name": "x", "config": {"smoothing": 1.5}}).status_code == 422
    assert client.post(base, json={"name": "x", "config": {"script": "<b>"}}).status_code == 422
    assert client.delete(f"{base}/{view_id}").status_code == 204
    assert client.get(f"{base}/{view_id}").status_code == 404


def test_admin_manages_members(client: TestClient, member_client: TestClient, app: FastAPI) -> None:
    r = client.post("/api/v1/team/members", json={"username": "bob", "password": "long enough", "role": "viewer"})
    assert r.status_code == 201 and r.json()["role"] == "viewer"
    assert client.post("/api/v1/team/members", json={"username": "bob"}).status_code == 409
    names = [m["username"] for m in client.get("/api/v1/team/members", params={"limit": 500}).json()["items"]]
    assert {"bob", "t-admin", "t-member", "t-viewer"} <= set(names) and "t-rival-admin" not in names
    bob = r.json()["user_id"]
    assert client.patch(f"/api/v1/team/members/{bob}", json={"role": "member"}).json()["role"] == "member"
    member_id = next(
        m["user_id"] for m in client.get("/api/v1/team/members").json()["items"] if m["username"] == "t-member"
    )
    assert member_client.get("/api/v1/auth/me").status_code == 200
    assert client.delete(f"/api/v1/team/members/{member_id}").status_code == 204
    assert member_client.get("/api/v1/auth/me").status_code == 401  # their tokens went with the membership
    me = client.get("/api/v1/auth/me").json()["user"]["id"]
    assert client.patch(f"/api/v1/team/members/{me}", json={"role": "viewer"}).status_code == 409


def test_bootstrap_creates_the_first_admin_once(db_session: Session) -> None:
    if teams.get_user_by_name(db_session=db_session, username="admin") is not None:
        pytest.skip("the store already has users")
    created = bootstrap.bootstrap(db_session=db_session, admin_token=None)
    assert created is not None and created.username == "admin" and created.token.startswith("tl_")
    assert teams.authenticate(db_session=db_session, username="admin", password=created.password) is not None
    assert bootstrap.bootstrap(db_session=db_session, admin_token=None) is None
    message = bootstrap.announcement(created, "http://h:1/")
    assert f"http://h:1/?token={created.token}" in message and created.password in message
    # A known token is added once and stays revoked once revoked.
    assert bootstrap.bootstrap(db_session=db_session, admin_token=ADMIN_TOKEN) is None
    assert bootstrap.bootstrap(db_session=db_session, admin_token=ADMIN_TOKEN) is None
    rows = db_session.scalars(select(ApiToken).where(ApiToken.token_hash == digest(ADMIN_TOKEN))).all()
    assert len(rows) == 1
    with pytest.raises(ValueError, match="at least"):
        bootstrap.bootstrap(db_session=db_session, admin_token="short")


def test_fresh_server_bootstraps_the_admin_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=tmp_path, broker_url="memory://", admin_token=ADMIN_TOKEN)
    app = create_app(settings, start_reaper=False)
    app.state.celery = RecordingCelery()
    with TestClient(app) as anon:
        assert anon.get("/api/v1/experiments").status_code == 401
        with TestClient(app, headers=ADMIN_HEADERS) as admin:
            assert admin.get("/api/v1/auth/me").json()["role"] == "admin"
            assert admin.post("/api/v1/experiments", json={**SPEC, "factors": [], "seeds": 1}).status_code == 201
    out = capsys.readouterr().out
    assert "username:    admin" in out and "(from TRICKLAB_ADMIN_TOKEN)" in out and ADMIN_TOKEN not in out


@pytest.mark.parametrize("route", ["token-login", "login"])
def test_login_waits_for_a_concurrent_sqlite_writer(tmp_path: Path, route: str) -> None:
    """A worker committing while a login is between its credential read and its session write.

    The dashboard's `/?token=` link failed here with "database is locked" (deferred read-then-write).
    """
    settings = Settings(data_dir=tmp_path, broker_url="memory://", admin_token=ADMIN_TOKEN)
    app = create_app(settings, start_reaper=False)
    app.state.celery = RecordingCelery()
    with TestClient(app) as browser:
        if route == "login":
            password = "correct horse battery"
            with app.state.session_factory() as db_session:
                add_user(db_session, "carol", teams.default_team_id(db_session=db_session), "member", password=password)
                db_session.commit()
            body: dict[str, str] = {"username": "carol", "password": password}
        else:
            body = {"token": ADMIN_TOKEN}
        other = sqlite3.connect(
            settings.data_dir / "tricklab.sqlite", isolation_level=None, timeout=30, check_same_thread=False
        )
        other.execute("CREATE TABLE worker_scratch (n INTEGER)")
        holding = threading.Event()

        def commit_while_login_reads() -> None:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO worker_scratch VALUES (1)")
            holding.set()
            time.sleep(0.5)
            other.execute("COMMIT")

        writer = threading.Thread(target=commit_while_login_reads)
        writer.start()
        assert holding.wait(timeout=30)
        try:
            r = browser.post(f"/api/v1/auth/{route}", json=body)
        finally:
            writer.join()
            other.close()
        assert r.status_code == 200, r.text
        assert browser.get("/api/v1/auth/me").json()["auth"] == "session"
