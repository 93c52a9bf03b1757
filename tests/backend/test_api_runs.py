"""Run routes (get, cancel, metrics) and the worker reporting routes (claim, heartbeat, metrics, finish)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

RUNS = "/api/v1/runs"


@pytest.fixture
def run_ids(client: TestClient, spec_dict: dict[str, Any]) -> list[int]:
    created = client.post("/api/v1/experiments", json={**spec_dict, "factors": ["label_smoothing"], "seeds": 1}).json()
    runs = client.get(f"/api/v1/experiments/{created['id']}/runs").json()["items"]
    return [r["id"] for r in runs]


def test_worker_lifecycle_over_rest(client: TestClient, run_ids: list[int]) -> None:
    run_id = run_ids[0]
    r = client.post(f"{RUNS}/{run_id}/claim", json={"attempt": 1, "worker_id": "remote-gpu"})
    assert r.status_code == 200, r.text
    claim = r.json()
    assert claim["run_id"] == run_id and claim["attempt"] == 1 and claim["config"]["seed"] == 0
    assert claim["checkpoint_path"].endswith(f"runs/{run_id}/checkpoint.pt")
    assert client.post(f"{RUNS}/{run_id}/claim", json={"attempt": 1, "worker_id": "other"}).status_code == 409
    r = client.post(f"{RUNS}/{run_id}/heartbeat", json={"attempt": 1, "progress": 0.25})
    assert r.json() == {"continue": True}
    points = [
        {"key": "train_loss", "step": 0, "value": 2.0, "wall_time": 1.0},
        {"key": "train_loss", "step": 1, "value": "NaN", "wall_time": 2.0},
        {"key": "grad_norm", "step": 1, "value": "Infinity", "wall_time": 2.0},
        {"key": "grad_norm", "step": 2, "value": "-Infinity", "wall_time": 3.0},
    ]
    for _ in range(2):  # the retry of a batch is harmless
        r = client.post(f"{RUNS}/{run_id}/metrics", json={"attempt": 1, "points": points})
        assert r.status_code == 204, r.text
    assert client.post(f"{RUNS}/{run_id}/metrics", json={"attempt": 2, "points": points}).status_code == 409
    keys = client.get(f"{RUNS}/{run_id}/metrics").json()["keys"]
    assert [(k["key"], k["count"], k["last_step"], k["last_value"]) for k in keys] == [
        ("grad_norm", 2, 2, None),
        ("train_loss", 2, 1, None),
    ]
    series = client.get(f"{RUNS}/{run_id}/metrics/train_loss").json()
    assert series == {
        "key": "train_loss",
        "steps": [0, 1],
        "values": [2.0, None],
        "mins": [2.0, None],
        "maxs": [2.0, None],
        "total_points": 2,
        "downsampled": False,
    }
    r = client.post(
        f"{RUNS}/{run_id}/finish",
        json={"attempt": 1, "status": "diverged", "final_metrics": {"test_accuracy": 0.1}, "error": "loss is NaN"},
    )
    assert r.status_code == 204
    assert client.post(f"{RUNS}/{run_id}/finish", json={"attempt": 1, "status": "failed"}).status_code == 409
    assert client.post(f"{RUNS}/{run_id}/heartbeat", json={"attempt": 1, "progress": 1}).json() == {"continue": False}
    run = client.get(f"{RUNS}/{run_id}").json()
    assert run["status"] == "diverged" and run["error"] == "loss is NaN"
    assert run["final_metrics"] == {"test_accuracy": 0.1}
    assert run["attempts"][0]["outcome"] == "diverged" and run["attempts"][0]["worker_id"] == "remote-gpu"
    assert run["duration_seconds"] >= 0 and run["started_at"] and run["finished_at"]
    assert client.post(f"{RUNS}/{run_id}/cancel").status_code == 409


def test_downsampled_series_over_rest(client: TestClient, run_ids: list[int]) -> None:
    run_id = run_ids[0]
    client.post(f"{RUNS}/{run_id}/claim", json={"attempt": 1, "worker_id": "w"})
    points = [{"key": "lr", "step": s, "value": 1.0 if s == 333 else 0.0, "wall_time": 0.0} for s in range(1000)]
    client.post(f"{RUNS}/{run_id}/metrics", json={"attempt": 1, "points": points})
    series = client.get(f"{RUNS}/{run_id}/metrics/lr", params={"max_points": 10}).json()
    assert series["downsampled"] and series["total_points"] == 1000 and len(series["steps"]) == 10
    assert max(series["maxs"]) == 1.0
    part = client.get(f"{RUNS}/{run_id}/metrics/lr", params={"start_step": 330, "end_step": 339}).json()
    assert part["steps"] == list(range(330, 340)) and part["values"][3] == 1.0
    assert client.get(f"{RUNS}/{run_id}/metrics/lr", params={"max_points": 1}).status_code == 422


def test_cancel_queued_and_running(client: TestClient, run_ids: list[int]) -> None:
    queued, running = run_ids
    assert client.post(f"{RUNS}/{queued}/cancel").json()["status"] == "cancelled"
    client.post(f"{RUNS}/{running}/claim", json={"attempt": 1, "worker_id": "w"})
    body = client.post(f"{RUNS}/{running}/cancel").json()
    assert body["status"] == "running" and body["cancel_requested"] is True
    assert client.post(f"{RUNS}/{running}/heartbeat", json={"attempt": 1, "progress": 0.5}).json() == {
        "continue": False
    }


def test_unknown_runs_are_404(client: TestClient) -> None:
    missing = 10**9
    cases = [
        ("GET", f"{RUNS}/{missing}", None),
        ("POST", f"{RUNS}/{missing}/cancel", None),
        ("GET", f"{RUNS}/{missing}/metrics", None),
        ("GET", f"{RUNS}/{missing}/metrics/train_loss", None),
        ("POST", f"{RUNS}/{missing}/claim", {"attempt": 1, "worker_id": "w"}),
        ("POST", f"{RUNS}/{missing}/heartbeat", {"attempt": 1, "progress": 0.0}),
        ("POST", f"{RUNS}/{missing}/metrics", {"attempt": 1, "points": []}),
        ("POST", f"{RUNS}/{missing}/finish", {"attempt": 1, "status": "failed"}),
    ]
    for method, path, body in cases:
        r = client.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json() == {"detail": f"run {missing} not found"}


def test_bad_worker_payloads_are_422(client: TestClient, run_ids: list[int]) -> None:
    run_id = run_ids[0]
    assert client.post(f"{RUNS}/{run_id}/claim", json={"attempt": 0, "worker_id": "w"}).status_code == 422
    assert client.post(f"{RUNS}/{run_id}/finish", json={"attempt": 1, "status": "running"}).status_code == 422
    bad_point = {"attempt": 1, "points": [{"key": "x", "step": -1, "value": 1.0, "wall_time": 0}]}
    assert client.post(f"{RUNS}/{run_id}/metrics", json=bad_point).status_code == 422


def test_columnar_metrics_equal_the_points_form(client: TestClient, run_ids: list[int]) -> None:
    a, b = run_ids[:2]
    for run_id in (a, b):
        assert client.post(f"{RUNS}/{run_id}/claim", json={"attempt": 1, "worker_id": "w"}).status_code == 200
    values: list[float | str] = [2.0, "NaN", 1.5, "Infinity", "-Infinity"]
    points = [{"key": "loss", "step": s, "value": v, "wall_time": float(s)} for s, v in enumerate(values)]
    series = {"key": "loss", "steps": [0, 1, 2, 3, 4], "values": values, "wall_times": [0.0, 1.0, 2.0, 3.0, 4.0]}
    finite = {"key": "lr", "steps": [0, 1], "values": [0.1, 0.2], "wall_times": [0.0, 1.0]}
    assert client.post(f"{RUNS}/{a}/metrics", json={"attempt": 1, "points": points}).status_code == 204
    for _ in range(2):  # re-sent: ignored
        r = client.post(f"{RUNS}/{b}/metrics", json={"attempt": 1, "series": [series, finite]})
        assert r.status_code == 204, r.text
    got_a = client.get(f"{RUNS}/{a}/metrics/loss").json()
    assert client.get(f"{RUNS}/{b}/metrics/loss").json() == got_a
    assert got_a["values"] == [2.0, None, 1.5, None, None]
    assert client.get(f"{RUNS}/{b}/metrics/lr").json()["values"] == [0.1, 0.2]
    bad = {**series, "wall_times": [0.0]}
    assert client.post(f"{RUNS}/{b}/metrics", json={"attempt": 1, "series": [bad]}).status_code == 422
    assert client.post(f"{RUNS}/{b}/metrics", json={"attempt": 2, "series": [finite]}).status_code == 409
