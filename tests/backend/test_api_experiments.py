"""Experiment routes: create, preview, list, get, runs, cancel and their 4xx answers."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.backend.store_helpers import RecordingCelery

API = "/api/v1/experiments"


def _create(client: TestClient, spec: dict[str, Any]) -> dict[str, Any]:
    r = client.post(API, json=spec)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_create_get_list(client: TestClient, spec_dict: dict[str, Any], celery_app: RecordingCelery) -> None:
    created = _create(client, spec_dict)
    assert created["n_runs"] == 24 and created["name"] == "digits-core"
    assert created["url"].endswith(f"/#/experiments/{created['id']}")
    # The server's default bundles of 64 runs: one message carries all 24 (tricklab.train_runs).
    assert [name for name, _ in celery_app.sent] == ["tricklab.train_runs"]
    assert len(celery_app.dispatched) == 24
    exp = client.get(f"{API}/{created['id']}").json()
    assert exp["status"] == "queued" and exp["counts"]["queued"] == 24 and exp["progress"] == 0.0
    assert exp["factors"] == ["label_smoothing", "warmup", "batch_norm", "group_norm"]
    assert exp["spec"]["factors"][1] == {"warmup": {"epochs": 1}}
    assert exp["metric"] == "test_accuracy" and exp["direction"] == "maximize"
    assert len(exp["combinations"]) == 12 and exp["combinations"][0] == {"key": "base", "tricks": {}, "levels": {}}
    page = client.get(API, params={"limit": 1}).json()
    assert page["items"][0]["id"] == created["id"] and page["limit"] == 1 and page["total"] >= 1


def test_preview(client: TestClient, spec_dict: dict[str, Any]) -> None:
    r = client.post(f"{API}/preview", json=spec_dict)
    assert r.status_code == 200
    body = r.json()
    assert (body["n_combinations"], body["n_runs"], body["design"]) == (12, 24, "full")


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"task": "imagenet"}, ["body", "task"]),
        ({"factors": ["label_smoothing", "hyper_magic"]}, ["body", "factors", 1]),
        ({"factors": [{"warmup": {"epochs": -1}}]}, ["body", "factors", 0, "warmup", "epochs"]),
        ({"factors": [{"dropout": {"q": 0.5}}]}, ["body", "factors", 0, "dropout", "q"]),
        ({"base": {"lr": "fast"}}, ["body", "base", "lr"]),
        ({"seeds": 0}, ["body", "seeds"]),
        ({"factors": ["wgan"]}, ["body", "factors", 0, "wgan"]),
    ],
)
def test_invalid_specs_name_the_field(
    client: TestClient, spec_dict: dict[str, Any], change: dict[str, Any], loc: list[Any]
) -> None:
    for path in (API, f"{API}/preview"):
        r = client.post(path, json={**spec_dict, **change})
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert any(d["loc"] == loc for d in detail), detail
        assert all(d["msg"] for d in detail)


def test_conflicting_tricks_in_a_one_at_a_time_design(client: TestClient, spec_dict: dict[str, Any]) -> None:
    r = client.post(API, json={**spec_dict, "design": "leave_one_out"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail[0]["loc"] == ["body", "factors"] and "batch_norm" in detail[0]["msg"]


def test_runs_of_an_experiment(client: TestClient, spec_dict: dict[str, Any]) -> None:
    created = _create(client, {**spec_dict, "factors": ["label_smoothing"], "seeds": 2})
    page = client.get(f"{API}/{created['id']}/runs", params={"limit": 3}).json()
    assert page["total"] == 4 and len(page["items"]) == 3
    run = page["items"][0]
    assert run["status"] == "queued" and run["attempt"] == 0 and run["attempts"] == []
    assert run["config"]["task"] == "digits" and run["combo_key"] == "base"
    queued = client.get(f"{API}/{created['id']}/runs", params={"status": "queued"}).json()
    assert queued["total"] == 4
    assert client.get(f"{API}/{created['id']}/runs", params={"status": "running"}).json()["total"] == 0
    assert client.get(f"{API}/{created['id']}/runs", params={"status": "bogus"}).status_code == 422


def test_cancel(client: TestClient, spec_dict: dict[str, Any]) -> None:
    created = _create(client, {**spec_dict, "factors": [], "seeds": 2})
    r = client.post(f"{API}/{created['id']}/cancel")
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled" and r.json()["counts"]["cancelled"] == 2
    assert client.post(f"{API}/{created['id']}/cancel").status_code == 409


def test_unknown_ids_and_bad_pagination(client: TestClient) -> None:
    for method, path in [
        ("get", f"{API}/999999"),
        ("get", f"{API}/999999/runs"),
        ("post", f"{API}/999999/cancel"),
        ("get", f"{API}/999999/events"),
    ]:
        r = client.request(method.upper(), path)
        assert r.status_code == 404, path
        assert r.json() == {"detail": "experiment 999999 not found"}
    assert client.get(API, params={"limit": 501}).status_code == 422
    assert client.get(API, params={"offset": -1}).status_code == 422
