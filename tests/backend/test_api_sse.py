"""The experiment event stream: snapshot, updates of changed runs, end once every run is terminal."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from tricklab.api.app import create_app
from tricklab.api.sse import format_event
from tricklab.config import Settings
from tricklab.services.reporting import SqlRunReporter

from tests.backend.auth_helpers import ADMIN_HEADERS, ADMIN_TOKEN
from tests.backend.store_helpers import SPEC, RecordingCelery


def _events(lines: list[str]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event is not None:
            out.append((event, json.loads(line.removeprefix("data: "))))
            event = None
    return out


def test_format_event() -> None:
    assert format_event("end", {"a": 1}) == 'event: end\ndata: {"a":1}\n\n'


def test_stream_yields_snapshot_updates_and_end(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, broker_url="memory://", sse_poll_seconds=0.05, admin_token=ADMIN_TOKEN)
    app = create_app(settings, start_reaper=False)
    app.state.celery = RecordingCelery()
    with TestClient(app, headers=ADMIN_HEADERS) as client:
        created = client.post("/api/v1/experiments", json={**SPEC, "factors": ["label_smoothing"], "seeds": 1}).json()
        run_ids = [r["id"] for r in client.get(f"/api/v1/experiments/{created['id']}/runs").json()["items"]]
        reporter = SqlRunReporter(app.state.session_factory, settings=settings)

        def work() -> None:
            for run_id in run_ids:
                time.sleep(0.2)
                reporter.claim(run_id=run_id, attempt=1, worker_id="w")
                time.sleep(0.2)
                reporter.heartbeat(run_id=run_id, attempt=1, progress=0.5)
                time.sleep(0.2)
                reporter.finish(run_id=run_id, attempt=1, status="succeeded", final_metrics={"test_accuracy": 0.9})

        worker = threading.Thread(target=work)
        worker.start()
        try:
            with client.stream("GET", f"/api/v1/experiments/{created['id']}/events") as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                events = _events(list(response.iter_lines()))
        finally:
            worker.join()
    kinds = [k for k, _ in events]
    assert kinds[0] == "snapshot" and kinds[-1] == "end" and "update" in kinds[1:-1]
    snapshot = events[0][1]
    assert [r["id"] for r in snapshot["runs"]] == run_ids
    assert set(snapshot["runs"][0]) == {"id", "combo_key", "seed", "status", "progress", "attempt", "error"}
    updates = [data for kind, data in events if kind == "update"]
    assert all(len(u["runs"]) <= 1 for u in updates)  # only what changed
    assert any(r["status"] == "running" for u in updates for r in u["runs"])
    end = events[-1][1]
    assert end["experiment"]["status"] == "finished" and end["experiment"]["progress"] == 1.0


def test_stream_of_a_finished_experiment_ends_at_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, broker_url="memory://", admin_token=ADMIN_TOKEN)
    app = create_app(settings, start_reaper=False)
    app.state.celery = RecordingCelery()
    with TestClient(app, headers=ADMIN_HEADERS) as client:
        created = client.post("/api/v1/experiments", json={**SPEC, "factors": [], "seeds": 1}).json()
        client.post(f"/api/v1/experiments/{created['id']}/cancel")
        with client.stream("GET", f"/api/v1/experiments/{created['id']}/events") as response:
            events = _events(list(response.iter_lines()))
    assert [k for k, _ in events] == ["snapshot", "end"]
