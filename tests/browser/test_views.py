"""The experiment page's analysis views and their controls, on simulated data.

Served by tests/browser/fake_api.py (real catalog, spec validation and design
expansion; simulated runs where relu and warmup help and dropout hurts), so the
views are exercised in seconds without training.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.browser


def evaluate(page: Any, script: str, arg: Any = None) -> Any:
    return page.evaluate(script, arg)


def test_analysis_views_and_controls(page: Any, fake_server: str) -> None:
    spec = {
        "name": "views",
        "task": "digits",
        "factors": ["warmup", "relu", "dropout"],
        "design": "leave_one_out",
        "seeds": 3,
    }
    exp_id = httpx.post(f"{fake_server}/api/v1/experiments", json=spec).json()["id"]
    page.goto(f"{fake_server}/#/experiments/{exp_id}")
    page.wait_for_selector("#experiment-status [data-status=finished]", timeout=60_000)
    page.wait_for_function(
        "() => { const d = document.getElementById('accuracy-chart').data;"
        " return d && d[0].x.length === 4 && d[0].y.every(v => v !== null); }"
    )

    # Forest plot: one row per factor; the planted helpers are marked as improving.
    forest = evaluate(page, "document.getElementById('effects-chart').data[0].y")
    assert sorted(label.split(" ")[-1] for label in forest) == ["dropout", "relu", "warmup"]
    heat = evaluate(page, "document.getElementById('interactions-chart').data[0]")
    assert heat["type"] == "heatmap" and len(heat["z"]) == 3

    # Parallel coordinates: the three tricks and the metric.
    dims = evaluate(page, "document.getElementById('parallel-chart').data[0].dimensions.map(d => d.label)")
    assert dims == ["warmup", "relu", "dropout", "test_accuracy"]

    # One-at-a-time: leave-one-out gives a "−trick" row per trick.
    oat = page.eval_on_selector_all("#oat-table tr[data-testid=oat-row]", "els => els.map(e => e.dataset.trick)")
    assert sorted(oat) == ["dropout", "relu", "warmup"]

    # Curves controls: log scale, focus dims the combinations without the trick, EMA smoothing.
    page.check("#log-scale")
    assert evaluate(page, "document.getElementById('curves-train_loss').layout.yaxis.type") == "log"
    page.select_option("#focus-trick", "dropout")
    widths = evaluate(
        page,
        "document.getElementById('curves-train_loss').data.filter(t => t.meta.role === 'mean')"
        ".map(t => [t.meta.combo, t.line.width])",
    )
    assert {combo: width for combo, width in widths} == {
        "dropout+relu+warmup": 2,
        "relu+warmup": 1,
        "dropout+warmup": 2,
        "dropout+relu": 2,
    }
    raw = evaluate(page, "document.getElementById('curves-val_accuracy').data.find(t => t.meta.role === 'mean').y")
    page.eval_on_selector("#smoothing", "el => { el.value = '0.9'; el.dispatchEvent(new Event('input')); }")
    smooth = evaluate(page, "document.getElementById('curves-val_accuracy').data.find(t => t.meta.role === 'mean').y")
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
    page.fill("[data-testid=combo-table-filter]", "dropout + relu")
    assert page.locator("#combo-table tbody tr").count() == 2


def test_cancel_a_run_and_the_experiment(page: Any, fake_server: str) -> None:
    spec = {"name": "to cancel", "task": "digits", "factors": ["relu", "warmup"], "seeds": 5}
    exp_id = httpx.post(f"{fake_server}/api/v1/experiments", json=spec).json()["id"]
    page.goto(f"{fake_server}/#/experiments/{exp_id}")
    page.wait_for_selector("#runs-table tr[data-status=queued] [data-testid=cancel-run]")
    row = page.locator("#runs-table tr[data-status=queued]").last
    run_id = row.get_attribute("data-run-id")
    row.locator("[data-testid=cancel-run]").click()
    page.wait_for_selector(f"#runs-table tr[data-run-id='{run_id}'][data-status=cancelled]")

    page.click("#cancel-experiment")  # arms
    assert page.get_attribute("#cancel-experiment", "data-armed") == "1"
    page.click("#cancel-experiment")  # confirms
    page.wait_for_selector("#experiment-status [data-status=cancelled]")
    statuses = {r["status"] for r in httpx.get(f"{fake_server}/api/v1/experiments/{exp_id}/runs").json()["items"]}
    assert statuses <= {"succeeded", "cancelled", "running"}
