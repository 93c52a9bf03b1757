"""The worker's metric batch route: its body read and validated in one pass (422 naming the field), its checks
(authentication before the body, another team's run 404 before the attempt's 409) and idempotent, exact writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

RUNS = "/api/v1/runs"


@pytest.fixture
def run_id(client: TestClient, spec_dict: dict[str, Any]) -> int:
    created = client.post("/api/v1/experiments", json={**spec_dict, "factors": [], "seeds": 1}).json()
    rid = int(client.get(f"/api/v1/experiments/{created['id']}/runs").json()["items"][0]["id"])
    assert client.post(f"{RUNS}/{rid}/claim", json={"attempt": 1, "worker_id": "w"}).status_code == 200
    return rid


def _series(key: str, steps: list[int], values: list[Any]) -> dict[str, Any]:
    return {"key": key, "steps": steps, "values": values, "wall_times": [float(s) for s in steps]}


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        (b'{"attempt": 1, "series": [', ["body"], "json_invalid"),
        (b"", ["body"], "json_invalid"),
        (b'{"series": []}', ["body", "attempt"], "missing"),
        (json.dumps({"attempt": 0}).encode(), ["body", "attempt"], "greater_than_equal"),
        (
            json.dumps({"attempt": 1, "series": [_series("a", [0, -1], [1, 2])]}).encode(),
            ["body", "series", 0, "steps", 1],
            "greater_than_equal",
        ),
        (
            json.dumps({"attempt": 1, "series": [_series("a", [0], ["x"])]}).encode(),
            ["body", "series", 0, "values", 0],
            "float_parsing",
        ),
        (
            json.dumps({"attempt": 1, "series": [{**_series("a", [0, 1], [1, 2]), "values": [1]}]}).encode(),
            ["body", "series", 0],
            "value_error",
        ),
        (
            json.dumps({"attempt": 1, "points": [{"key": "", "step": 0, "value": 1, "wall_time": 0}]}).encode(),
            ["body", "points", 0, "key"],
            "string_too_short",
        ),
    ],
)
def test_bad_bodies_are_422_naming_the_field_and_store_nothing(
    client: TestClient, run_id: int, body: bytes, loc: list[Any], kind: str
) -> None:
    r = client.post(f"{RUNS}/{run_id}/metrics", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert [d["loc"] for d in detail if d["type"] == kind] == [loc], detail
    assert all("url" not in d for d in detail)
    assert client.get(f"{RUNS}/{run_id}/metrics").json()["keys"] == []


def test_credentials_are_checked_before_the_body_is_read(
    anon_client: TestClient, member_client: TestClient, run_id: int
) -> None:
    json_type = {"Content-Type": "application/json"}
    assert anon_client.post(f"{RUNS}/{run_id}/metrics", content=b"not json", headers=json_type).status_code == 401
    unknown = {**json_type, "Authorization": "Bearer tl_revoked-or-unknown"}
    r = anon_client.post(f"{RUNS}/{run_id}/metrics", content=b"not json", headers=unknown)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    # a member's personal token may not report runs: 403, whatever the body
    r = member_client.post(f"{RUNS}/{run_id}/metrics", content=b"not json", headers=json_type)
    assert r.status_code == 403 and "worker tokens" in r.json()["detail"]


def test_another_teams_run_is_404_even_for_a_stale_attempt(
    other_team_client: TestClient, worker_client: TestClient, run_id: int
) -> None:
    batch = {"series": [_series("loss", [0], [1.0])]}
    for attempt in (1, 2):
        r = other_team_client.post(f"{RUNS}/{run_id}/metrics", json={"attempt": attempt, **batch})
        assert r.status_code == 404 and r.json() == {"detail": f"run {run_id} not found"}
    assert worker_client.post(f"{RUNS}/{run_id}/metrics", json={"attempt": 2, **batch}).status_code == 409
    assert worker_client.post(f"{RUNS}/{run_id}/metrics", json={"attempt": 1, **batch}).status_code == 204


def test_resent_and_overlapping_batches_store_each_step_once_with_exact_summaries(
    client: TestClient, worker_client: TestClient, run_id: int
) -> None:
    values = [((s * 7919) % 1000) / 10.0 for s in range(3_000)]
    batches = [(lo, min(lo + 700, 3_000)) for lo in range(0, 3_000, 500)]  # overlapping by 200
    for lo, hi in [*batches, batches[2]]:
        body = {"attempt": 1, "series": [_series("loss", list(range(lo, hi)), values[lo:hi])]}
        assert worker_client.post(f"{RUNS}/{run_id}/metrics", json=body).status_code == 204
    keys = client.get(f"{RUNS}/{run_id}/metrics").json()["keys"]
    assert keys == [{"key": "loss", "count": 3_000, "last_step": 2_999, "last_value": values[-1]}]
    # hundreds of steps per drawn point: read from the rollups, which must hold each point once
    series = client.get(f"{RUNS}/{run_id}/metrics/loss", params={"max_points": 3}).json()
    assert series["downsampled"] and series["total_points"] == 3_000
    edges = [*series["steps"], 3_000]
    for i, (lo_value, hi_value) in enumerate(zip(series["mins"], series["maxs"], strict=True)):
        chunk = values[edges[i] : edges[i + 1]]
        assert (lo_value, hi_value) == (min(chunk), max(chunk))


def test_openapi_documents_the_body_without_dangling_references(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/runs/{run_id}/metrics"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert operation["requestBody"]["required"] is True
    assert schema["required"] == ["attempt"]
    assert set(schema["properties"]["series"]["items"]["properties"]) == {"key", "steps", "values", "wall_times"}
    assert "$ref" not in json.dumps(schema) and "$defs" not in json.dumps(schema)
