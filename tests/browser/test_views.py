"""The experiment page's analysis views and their controls, on the real server with planted results.

A real `tricklab server` (SQLite, embedded broker, no worker) stores a real
experiment; the test then plays the worker through the real reporting API
(claim, metrics, finish) with planted effects (relu helps, warmup helps a
little, dropout hurts), so every view is computed by the real analysis code
from the real store in seconds, without training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import ADMIN_HEADERS, login_with_token, running_tricklab

pytestmark = pytest.mark.browser

PLANTED = {"relu": 0.05, "warmup": 0.02, "dropout": -0.03}
STEPS = 60


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A real `tricklab server` with no worker: runs stay queued until the test reports them."""
    data_dir: Path = tmp_path_factory.mktemp("views-data")
    with (
        running_tricklab(["server"], data_dir) as base_url,
        httpx.Client(base_url=base_url, headers=ADMIN_HEADERS, timeout=30.0) as client,
    ):
        yield client


def planted_accuracy(tricks: list[str], seed: int) -> float:
    noise = [0.004, -0.003, 0.001][seed % 3]
    return 0.9 + sum(PLANTED.get(t, 0.0) for t in tricks) + noise


def report_run(client: httpx.Client, run: dict[str, Any]) -> None:
    """Play the worker for one run: claim it, send its curves in one batch, finish it."""
    run_id = run["id"]
    tricks = sorted(run["tricks"])
    claim = client.post(f"/api/v1/runs/{run_id}/claim", json={"attempt": 1, "worker_id": "planted"})
    assert claim.status_code == 200, claim.text
    final = planted_accuracy(tricks, run["seed"])
    rate = 0.05 + 0.02 * len(tricks) + 0.002 * run["seed"]  # seeds differ, so curve bands have a width
    points = []
    for step in range(1, STEPS + 1):
        points.append({"key": "train_loss", "step": step, "value": 2.3 * math.exp(-rate * step), "wall_time": step})
        if step % 5 == 0:
            acc = final * (1 - math.exp(-step / 12))
            points.append({"key": "val_accuracy", "step": step, "value": acc, "wall_time": step})
    sent = client.post(f"/api/v1/runs/{run_id}/metrics", json={"attempt": 1, "points": points})
    assert sent.status_code == 204, sent.text
    done = client.post(
        f"/api/v1/runs/{run_id}/finish",
        json={"attempt": 1, "status": "succeeded", "final_metrics": {"test_accuracy": final, "test_loss": 1 - final}},
    )
    assert done.status_code == 204, done.text


def all_runs(client: httpx.Client, exp_id: int) -> list[dict[str, Any]]:
    page = client.get(f"/api/v1/experiments/{exp_id}/runs", params={"limit": 500})
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def test_analysis_views_and_controls(page: Any, api_server: httpx.Client) -> None:
    spec = {
        "name": "views",
        "task": "digits",
        "factors": ["warmup", "relu", "dropout"],
        "design": "leave_one_out",
        "seeds": 3,
    }
    created = api_server.post("/api/v1/experiments", json=spec)
    assert created.status_code == 201, created.text
    exp_id = created.json()["id"]
    base_url = str(api_server.base_url)
    login_with_token(page, base_url)
    page.goto(f"{base_url}/#/experiments/{exp_id}")
    page.wait_for_selector("#experiment-status [data-status=queued]")
    for run in all_runs(api_server, exp_id):  # the page follows along over the live stream
        report_run(api_server, run)
    page.wait_for_selector("#experiment-status [data-status=finished]", timeout=60_000)
    page.wait_for_function(
        "() => { const d = document.getElementById('accuracy-chart').data;"
        " return d && d[0].x.length === 4 && d[0].y.every(v => v !== null); }"
    )

    # Forest plot: one row per factor.
    forest = page.evaluate("document.getElementById('effects-chart').data[0].y")
    assert sorted(label.split(" ")[-1] for label in forest) == ["dropout", "relu", "warmup"]
    heat = page.evaluate("document.getElementById('interactions-chart').data[0]")
    assert heat["type"] == "heatmap" and len(heat["z"]) == 3

    # The planted effects come back from the real analysis: leave-one-out removes each trick.
    analysis = api_server.get(f"/api/v1/experiments/{exp_id}/analysis", params={"metric": "test_accuracy"}).json()
    oat = {row["trick"]: row for row in analysis["one_at_a_time"]}
    for trick, effect in PLANTED.items():
        # all-on minus all-but-this-trick, paired by seed: the seed noise cancels exactly
        assert oat[trick]["mean_diff"] == pytest.approx(effect, abs=1e-9)

    # Parallel coordinates: the three tricks and the metric, drawn once scrolled near.
    page.locator("#parallel-chart").scroll_into_view_if_needed()
    page.wait_for_function("() => (document.getElementById('parallel-chart').data || []).length === 1")
    dims = page.evaluate("document.getElementById('parallel-chart').data[0].dimensions.map(d => d.label)")
    assert dims == ["warmup", "relu", "dropout", "test_accuracy"]

    # One-at-a-time: leave-one-out gives a "−trick" row per trick.
    rows = page.eval_on_selector_all("#oat-table tr[data-testid=oat-row]", "els => els.map(e => e.dataset.trick)")
    assert sorted(rows) == ["dropout", "relu", "warmup"]

    # Curves controls: log scale, focus dims the combinations without the trick, EMA smoothing.
    page.check("#log-scale")
    assert page.evaluate("document.getElementById('curves-train_loss').layout.yaxis.type") == "log"
    page.select_option("#focus-trick", "dropout")
    widths = page.evaluate(
        "document.getElementById('curves-train_loss').data.filter(t => t.meta.role === 'mean')"
        ".map(t => [t.meta.combo, t.line.width])",
    )
    assert dict(widths) == {"dropout+relu+warmup": 2, "relu+warmup": 1, "dropout+warmup": 2, "dropout+relu": 2}
    mean_trace = "document.getElementById('curves-val_accuracy').data.find(t => t.meta.role === 'mean').y"
    raw = page.evaluate(mean_trace)
    page.eval_on_selector("#smoothing", "el => { el.value = '0.9'; el.dispatchEvent(new Event('input')); }")
    smooth = page.evaluate(mean_trace)
    assert raw[0] == pytest.approx(smooth[0]) and raw[5:] != smooth[5:]

    # Paired difference curve for a chosen trick.
    page.select_option("#diff-trick", "relu")
    page.wait_for_function(
        "() => (document.getElementById('diff-chart').data || []).some(t => t.meta && t.meta.role === 'diff')"
    )

    # Per-combination table: sortable and filterable.
    page.click("#combo-table th[data-key=mean]")
    first = page.locator("#combo-table tbody tr").first.get_attribute("data-key")
    best = page.locator("#combo-table tbody tr.best").get_attribute("data-key")
    assert first == best
    page.fill("[data-testid=combo-table-filter]", "relu + dropout")
    assert page.locator("#combo-table tbody tr").count() == 2


def test_cancel_a_run_and_the_experiment(page: Any, api_server: httpx.Client) -> None:
    spec = {"name": "to cancel", "task": "digits", "factors": ["relu", "warmup"], "seeds": 2}
    exp_id = api_server.post("/api/v1/experiments", json=spec).json()["id"]
    base_url = str(api_server.base_url)
    login_with_token(page, base_url)
    page.goto(f"{base_url}/#/experiments/{exp_id}")
    page.wait_for_selector("#runs-table tr[data-status=queued] [data-testid=cancel-run]")
    row = page.locator("#runs-table tr[data-status=queued]").last
    run_id = row.get_attribute("data-run-id")
    row.locator("[data-testid=cancel-run]").click()
    page.wait_for_selector(f"#runs-table tr[data-run-id='{run_id}'][data-status=cancelled]")

    page.click("#cancel-experiment")  # arms
    assert page.get_attribute("#cancel-experiment", "data-armed") == "1"
    page.click("#cancel-experiment")  # confirms
    page.wait_for_selector("#experiment-status [data-status=cancelled]")
    deadline = time.monotonic() + 10
    while {r["status"] for r in all_runs(api_server, exp_id)} != {"cancelled"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert {r["status"] for r in all_runs(api_server, exp_id)} == {"cancelled"}


MANY_FACTORS = ["cyclic_lr", "focal_loss", "warmup", "flooding", "dropout", "relu"]


def test_a_settled_experiment_with_many_combinations(page: Any, api_server: httpx.Client) -> None:
    """64 combinations: compact curves with the band in the hover, one load, parallel coordinates on demand."""
    spec = {"name": "many", "task": "digits", "factors": MANY_FACTORS, "seeds": 2}
    created = api_server.post("/api/v1/experiments", json=spec)
    assert created.status_code == 201, created.text
    exp_id = created.json()["id"]
    experiment = api_server.get(f"/api/v1/experiments/{exp_id}").json()
    combos = {c["key"] for c in experiment["combinations"]}
    assert len(combos) == 64
    for run in all_runs(api_server, exp_id):
        report_run(api_server, run)
    curves = api_server.get(f"/api/v1/experiments/{exp_id}/curves", params={"key": "train_loss", "points": 200})
    expected = curves.json()

    data_requests: list[str] = []
    page.on("request", lambda r: data_requests.append(r.url) if f"/api/v1/experiments/{exp_id}/" in r.url else None)
    base_url = str(api_server.base_url)
    login_with_token(page, base_url)
    page.goto(f"{base_url}/#/experiments/{exp_id}")
    page.wait_for_selector("#runs-table tr[data-status=succeeded]")
    page.wait_for_function(
        "() => { const d = document.getElementById('accuracy-chart').data; return d && d[0].x.length === 64; }"
    )

    # One trace per colour; each combination's line is its seed mean, its hover gives n and the band.
    traces = page.evaluate(
        "document.getElementById('curves-train_loss').data"
        ".map(t => ({x: t.x, y: t.y, customdata: t.customdata, meta: t.meta, showlegend: t.showlegend}))"
    )
    assert 0 < len(traces) <= 16 and all(t["meta"]["role"] == "means" and not t["showlegend"] for t in traces)
    drawn = [key for t in traces for key in t["meta"]["combos"]]
    assert sorted(drawn) == sorted(combos)
    for t in traces:
        segments = zip(t["meta"]["combos"], split_at_gaps(t), strict=True)
        for key, (steps, means, hover) in segments:
            want = next(c for c in expected["combinations"] if c["key"] == key)
            assert steps == want["steps"] and means == pytest.approx(want["mean"])
            assert [h[1] for h in hover] == want["n"]
            assert [h[2] for h in hover] == pytest.approx(want["lo"])
            assert [h[3] for h in hover] == pytest.approx(want["hi"])
            assert all(lo < hi for lo, hi in zip(want["lo"], want["hi"], strict=True))

    # Focus dims whole combinations: every trace is either all with the trick or all without.
    page.select_option("#focus-trick", "relu")
    widths = page.evaluate("document.getElementById('curves-train_loss').data.map(t => [t.meta.combos, t.line.width])")
    for keys, width in widths:
        assert {("relu" in key.split("+")) for key in keys} == {width == 1.5}

    # Settled before the page opened: the stream's snapshot and end reload nothing.
    page.wait_for_timeout(1000)
    assert sum("/analysis" in url for url in data_requests) == 1, data_requests
    assert sum("/curves" in url for url in data_requests) == 2, data_requests
    # ... and its first curves go out before the stream and the saved views, which would share the server.
    first_curves = next(i for i, url in enumerate(data_requests) if "curves?key=train_loss" in url)
    assert all(first_curves < i for i, url in enumerate(data_requests) if "/events" in url or "/views" in url)
    assert any("/events" in url for url in data_requests) and any("/views" in url for url in data_requests)

    # Parallel coordinates are drawn only once scrolled near.
    assert page.evaluate("document.getElementById('parallel-chart').data === undefined")
    page.locator("#parallel-chart").scroll_into_view_if_needed()
    page.wait_for_function("() => (document.getElementById('parallel-chart').data || []).length === 1")


def split_at_gaps(trace: dict[str, Any]) -> list[tuple[list[int], list[float], list[list[Any]]]]:
    """The null-separated segments of a compact curves trace: (steps, means, hover data) per combination."""
    out: list[tuple[list[int], list[float], list[list[Any]]]] = []
    current: tuple[list[int], list[float], list[list[Any]]] = ([], [], [])
    for x, y, hover in zip(trace["x"], trace["y"], trace["customdata"], strict=True):
        if x is None:
            out.append(current)
            current = ([], [], [])
        else:
            current[0].append(x)
            current[1].append(y)
            current[2].append(hover)
    return out
