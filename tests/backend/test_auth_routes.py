"""Every route, generated from the app: unauthenticated 401, another team's object 404, viewer writes 403.

The expected requirement of each route is listed here; a route added without an entry fails
``test_every_route_is_listed``, so no route ships without these checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tricklab.auth.route_table import route_requirements
from tricklab.db.models import ApiToken, User

from tests.backend.auth_helpers import Principals

EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "public",
    ("POST", "/api/v1/auth/login"): "public",
    ("POST", "/api/v1/auth/token-login"): "public",
    ("GET", "/static/vendor/plotly.min.js"): "public",
    ("POST", "/api/v1/auth/logout"): "viewer",
    ("GET", "/api/v1/auth/me"): "viewer",
    ("GET", "/docs"): "viewer",
    ("GET", "/openapi.json"): "viewer",
    ("GET", "/api/v1/tricks"): "viewer",
    ("GET", "/api/v1/tricks/{name}"): "viewer",
    ("GET", "/api/v1/tasks"): "viewer",
    ("GET", "/api/v1/tasks/{name}"): "viewer",
    ("GET", "/api/v1/experiments"): "viewer",
    ("POST", "/api/v1/experiments"): "member",
    ("POST", "/api/v1/experiments/preview"): "viewer",
    ("GET", "/api/v1/experiments/{experiment_id}"): "viewer",
    ("POST", "/api/v1/experiments/{experiment_id}/cancel"): "member",
    ("GET", "/api/v1/experiments/{experiment_id}/runs"): "viewer",
    ("GET", "/api/v1/experiments/{experiment_id}/events"): "viewer",
    ("GET", "/api/v1/experiments/{experiment_id}/curves"): "viewer",
    ("GET", "/api/v1/experiments/{experiment_id}/analysis"): "viewer",
    ("GET", "/api/v1/experiments/{experiment_id}/export"): "viewer",
    ("GET", "/api/v1/experiments/{experiment_id}/views"): "viewer",
    ("POST", "/api/v1/experiments/{experiment_id}/views"): "member",
    ("GET", "/api/v1/experiments/{experiment_id}/views/{view_id}"): "viewer",
    ("PUT", "/api/v1/experiments/{experiment_id}/views/{view_id}"): "member",
    ("DELETE", "/api/v1/experiments/{experiment_id}/views/{view_id}"): "member",
    ("GET", "/api/v1/experiments/{experiment_id}/shares"): "member",
    ("POST", "/api/v1/experiments/{experiment_id}/shares"): "member",
    ("DELETE", "/api/v1/shares/{share_id}"): "member",
    ("GET", "/api/v1/shared/{share_token}"): "share link",
    ("GET", "/api/v1/shared/{share_token}/runs"): "share link",
    ("GET", "/api/v1/shared/{share_token}/curves"): "share link",
    ("GET", "/api/v1/shared/{share_token}/analysis"): "share link",
    ("GET", "/api/v1/runs/{run_id}"): "viewer",
    ("POST", "/api/v1/runs/{run_id}/cancel"): "member",
    ("GET", "/api/v1/runs/{run_id}/metrics"): "viewer",
    ("GET", "/api/v1/runs/{run_id}/metrics/{key}"): "viewer",
    ("POST", "/api/v1/runs/{run_id}/claim"): "worker",
    ("POST", "/api/v1/runs/{run_id}/heartbeat"): "worker",
    ("POST", "/api/v1/runs/{run_id}/resume"): "worker",
    ("POST", "/api/v1/runs/{run_id}/metrics"): "worker",
    ("POST", "/api/v1/runs/{run_id}/finish"): "worker",
    ("GET", "/api/v1/tokens"): "viewer",
    ("POST", "/api/v1/tokens"): "viewer",
    ("DELETE", "/api/v1/tokens/{token_id}"): "viewer",
    ("GET", "/api/v1/team/members"): "admin",
    ("POST", "/api/v1/team/members"): "admin",
    ("PATCH", "/api/v1/team/members/{user_id}"): "admin",
    ("DELETE", "/api/v1/team/members/{user_id}"): "admin",
}
ROUTES = sorted(EXPECTED)
PROTECTED = [r for r in ROUTES if EXPECTED[r] not in ("public", "share link")]
# Routes with an object of the caller's team in the path: another team gets 404, never 403 or 200.
OWNED = [r for r in PROTECTED if re.search(r"\{(experiment_id|run_id|view_id|share_id|token_id|user_id)\}", r[1])]
WRITES_BEYOND_VIEWER = [r for r in PROTECTED if EXPECTED[r] in ("member", "admin", "worker")]
BODIES: dict[str, Any] = {
    "/api/v1/experiments/{experiment_id}/views": {"name": "v"},
    "/api/v1/experiments/{experiment_id}/views/{view_id}": {"name": "v"},
    "/api/v1/experiments/{experiment_id}/shares": {},
    "/api/v1/runs/{run_id}/claim": {"attempt": 1, "worker_id": "w"},
    "/api/v1/runs/{run_id}/heartbeat": {"attempt": 1, "progress": 0.1},
    "/api/v1/runs/{run_id}/resume": {"attempt": 1, "step": 1},
    "/api/v1/runs/{run_id}/metrics": {"attempt": 1, "points": []},
    "/api/v1/runs/{run_id}/finish": {"attempt": 1, "status": "failed"},
    "/api/v1/team/members": {"username": "newcomer", "role": "viewer"},
    "/api/v1/team/members/{user_id}": {"role": "viewer"},
    "/api/v1/tokens": {"name": "t"},
}


@dataclass
class Objects:
    """One object of each kind, owned by the default team."""

    values: dict[str, str]

    def path(self, template: str) -> str:
        return template.format(**self.values)


@pytest.fixture
def objects(client: TestClient, spec_dict: dict[str, Any], db_session: Session, principals: Principals) -> Objects:
    exp = client.post("/api/v1/experiments", json={**spec_dict, "factors": ["relu"], "seeds": 1}).json()["id"]
    run = client.get(f"/api/v1/experiments/{exp}/runs").json()["items"][0]["id"]
    view = client.post(f"/api/v1/experiments/{exp}/views", json={"name": "mine"}).json()["id"]
    share = client.post(f"/api/v1/experiments/{exp}/shares", json={}).json()
    member = db_session.scalar(select(User).where(User.username == "t-member"))
    assert member is not None
    token = db_session.scalar(select(ApiToken.id).where(ApiToken.user_id == member.id))
    values = {
        "experiment_id": str(exp),
        "run_id": str(run),
        "view_id": str(view),
        "share_id": str(share["id"]),
        "share_token": share["token"],
        "token_id": str(token),
        "user_id": str(member.id),
        "name": "relu",
        "key": "train_loss",
    }
    return Objects(values)


def call(client: TestClient, route: tuple[str, str], objects: Objects) -> Any:
    method, template = route
    body = BODIES.get(template) if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, objects.path(template), json=body)


def test_every_route_is_listed(app: FastAPI) -> None:
    generated = {(r.method, r.path): r.requirement for r in route_requirements(app)}
    assert generated == EXPECTED


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: f"{r[0]} {r[1]}")
def test_unauthenticated_is_401(anon_client: TestClient, objects: Objects, route: tuple[str, str]) -> None:
    r = call(anon_client, route, objects)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    bad = anon_client.request(route[0], objects.path(route[1]), headers={"Authorization": "Bearer tl_nope"})
    assert bad.status_code == 401


@pytest.mark.parametrize("route", OWNED, ids=lambda r: f"{r[0]} {r[1]}")
def test_another_teams_object_is_404(other_team_client: TestClient, objects: Objects, route: tuple[str, str]) -> None:
    r = call(other_team_client, route, objects)
    assert r.status_code == 404, r.text


@pytest.mark.parametrize("route", WRITES_BEYOND_VIEWER, ids=lambda r: f"{r[0]} {r[1]}")
def test_viewer_cannot_write(viewer_client: TestClient, objects: Objects, route: tuple[str, str]) -> None:
    r = call(viewer_client, route, objects)
    assert r.status_code == 403, r.text


@pytest.mark.parametrize("route", [r for r in PROTECTED if EXPECTED[r] != "worker"], ids=lambda r: f"{r[0]} {r[1]}")
def test_worker_token_only_reports(worker_client: TestClient, objects: Objects, route: tuple[str, str]) -> None:
    r = call(worker_client, route, objects)
    assert r.status_code == 403, r.text


@pytest.mark.parametrize("route", [r for r in ROUTES if EXPECTED[r] == "share link"], ids=lambda r: r[1])
def test_share_routes_need_a_valid_link(anon_client: TestClient, objects: Objects, route: tuple[str, str]) -> None:
    assert call(anon_client, route, objects).status_code == 200
    unknown = Objects({**objects.values, "share_token": "tls_not-a-link"})
    assert call(anon_client, route, unknown).status_code == 404


def test_public_routes_answer_without_credentials(anon_client: TestClient) -> None:
    assert anon_client.get("/healthz").status_code == 200
    assert anon_client.get("/").status_code == 200  # the dashboard (and its login page) is static
    assert anon_client.get("/js/app.js").status_code == 200
    assert anon_client.post("/api/v1/auth/login", json={"username": "x", "password": "y"}).status_code == 401
