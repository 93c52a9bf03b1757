"""The app factory: health, catalog, body limit, dashboard files, OpenAPI, lifespan and import direction."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tricklab.api.app import create_app, default_frontend_dir, plotly_js_path
from tricklab.catalog.tricks import TRICKS
from tricklab.config import Settings
from tricklab.db import session as db_session_module

from tests.backend.auth_helpers import ADMIN_HEADERS, ADMIN_TOKEN
from tests.backend.store_helpers import SPEC, RecordingCelery


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "version": "0.1.0"}


def test_catalog_routes(client: TestClient) -> None:
    tricks = client.get("/api/v1/tricks").json()
    assert [t["name"] for t in tricks] == list(TRICKS)
    warmup = client.get("/api/v1/tricks/warmup").json()
    assert warmup["params"]["epochs"]["type"] in ("int", "float")
    assert client.get("/api/v1/tricks/nope").status_code == 404
    tasks = client.get("/api/v1/tasks").json()
    assert "digits" in [t["name"] for t in tasks]
    assert client.get("/api/v1/tasks/digits").json()["kind"] == "classification"
    assert client.get("/api/v1/tasks/nope").json() == {"detail": "task nope not found"}


def test_body_size_limit(client: TestClient, settings: Settings) -> None:
    big = {**SPEC, "description": "x" * (settings.max_body_bytes + 10)}
    r = client.post("/api/v1/experiments", json=big)
    assert r.status_code == 413
    assert "larger than" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    r = client.post("/api/v1/experiments", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_dashboard_and_vendored_plotly(client: TestClient) -> None:
    assert default_frontend_dir() == Path(__file__).resolve().parents[2] / "frontend"
    index = client.get("/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    plotly = plotly_js_path()
    assert plotly is not None and plotly.name == "plotly.min.js"
    r = client.get("/static/vendor/plotly.min.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert len(r.content) == plotly.stat().st_size


def test_openapi_lists_every_route(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in [
        "/healthz",
        "/api/v1/tricks",
        "/api/v1/tricks/{name}",
        "/api/v1/tasks",
        "/api/v1/tasks/{name}",
        "/api/v1/experiments",
        "/api/v1/experiments/preview",
        "/api/v1/experiments/{experiment_id}",
        "/api/v1/experiments/{experiment_id}/cancel",
        "/api/v1/experiments/{experiment_id}/runs",
        "/api/v1/experiments/{experiment_id}/events",
        "/api/v1/runs/{run_id}",
        "/api/v1/runs/{run_id}/cancel",
        "/api/v1/runs/{run_id}/metrics",
        "/api/v1/runs/{run_id}/metrics/{key}",
        "/api/v1/runs/{run_id}/claim",
        "/api/v1/runs/{run_id}/heartbeat",
        "/api/v1/runs/{run_id}/finish",
    ]:
        assert path in paths, path


def test_lifespan_migrates_a_fresh_sqlite_store(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "fresh", broker_url="memory://", lease_seconds=1.0, admin_token=ADMIN_TOKEN)
    app = create_app(settings)
    app.state.celery = RecordingCelery()
    with TestClient(app, headers=ADMIN_HEADERS) as client:
        assert client.get("/healthz").json()["database"] == "ok"
        r = client.post("/api/v1/experiments", json={**SPEC, "factors": [], "seeds": 1})
        assert r.status_code == 201
        assert client.get("/api/v1/experiments").json()["total"] == 1
    assert (tmp_path / "fresh" / "tricklab.sqlite").exists()


def test_api_never_imports_torch_or_the_worker() -> None:
    code = (
        "import json, sys\n"
        "import tricklab.api.app\n"
        "tricklab.api.app.create_app\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tricklab_worker'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_locked_store_answers_503_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite still locked after the busy timeout: 503 with Retry-After, not a 500, and no half-written rows."""
    monkeypatch.setattr(db_session_module, "SQLITE_BUSY_TIMEOUT_MS", 100)
    settings = Settings(data_dir=tmp_path, broker_url="memory://", admin_token=ADMIN_TOKEN)
    app = create_app(settings, start_reaper=False)
    app.state.celery = RecordingCelery()
    with TestClient(app, headers=ADMIN_HEADERS) as client:
        other = sqlite3.connect(settings.data_dir / "tricklab.sqlite", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            r = client.post("/api/v1/experiments", json={**SPEC, "factors": ["relu"], "seeds": 1})
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1"
        assert "retry" in r.json()["detail"]
        assert client.get("/api/v1/experiments").json()["items"] == []
        assert client.post("/api/v1/experiments", json={**SPEC, "factors": ["relu"], "seeds": 1}).status_code == 201
