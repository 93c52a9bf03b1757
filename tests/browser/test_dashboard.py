"""The dashboard driven in Chromium against the real product (`tricklab up`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import ADMIN_HEADERS, login_with_token
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.browser

XSS_NAME = "<img src=x onerror=alert(1)>"


def mean_traces(page: Any, chart_id: str) -> int:
    """Line traces of one combination each (bands are separate polygons tagged 'band')."""
    return int(
        page.evaluate(
            "id => (document.getElementById(id).data || []).filter(t => t.meta && t.meta.role === 'mean').length",
            chart_id,
        )
    )


def chart_data(page: Any, chart_id: str) -> list[dict[str, Any]]:
    return list(
        page.evaluate(
            "id => (document.getElementById(id).data || []).map(t => ({x: t.x, y: t.y, meta: t.meta}))", chart_id
        )
    )


def test_create_experiment_through_the_form_and_watch_it_finish(
    page: Any, tricklab_server: str, artifacts_dir: Path
) -> None:
    page.goto(f"{tricklab_server}/#/new")
    page.wait_for_selector("#preview-count[data-runs]")
    page.fill("#exp-name", "digits relu x batch_norm")
    for key, value in {"epochs": "1", "depth": "2", "width": "32", "max_steps": "24"}.items():
        page.fill(f"#base-{key}", value)
    page.click("#base-fields details > summary")
    page.fill("#base-eval_every", "6")
    page.check("#trick-relu")
    page.check("#trick-batch_norm")
    page.fill("#seeds", "2")
    # The cost is shown before launch: 2 tricks, full factorial, 2 seeds.
    page.wait_for_function("document.querySelector('#preview-count').dataset.runs === '8'")
    assert "4 combinations" in page.text_content("#preview-count")

    page.click("#submit-experiment")
    page.wait_for_url(re.compile(r".*#/experiments/\d+$"))
    exp_id = int(page.url.rsplit("/", 1)[1])
    experiment = httpx.get(f"{tricklab_server}/api/v1/experiments/{exp_id}", headers=ADMIN_HEADERS).json()
    n_combos = len(experiment["combinations"])
    assert n_combos == 4 and experiment["n_runs"] == 8

    page.wait_for_selector("#experiment-status [data-status=finished]", timeout=150_000)
    # After `end` the views refetch once more; wait until they hold the final numbers.
    page.wait_for_function(
        "n => { const d = document.getElementById('accuracy-chart').data;"
        " return d && d[0].x.length === n && d[0].y.every(v => v !== null); }",
        arg=n_combos,
        timeout=30_000,
    )
    for chart in ("curves-train_loss", "curves-val_accuracy"):
        page.wait_for_function(
            "([id, n]) => (document.getElementById(id).data || [])"
            ".filter(t => t.meta && t.meta.role === 'mean').length === n",
            arg=[chart, n_combos],
            timeout=30_000,
        )
        assert mean_traces(page, chart) == n_combos

    bars = chart_data(page, "accuracy-chart")[0]
    assert len(set(bars["x"])) == n_combos

    effects = chart_data(page, "effects-chart")[0]
    for factor in ("relu", "batch_norm"):
        assert any(factor in str(label) for label in effects["y"]), (factor, effects["y"])

    headers = page.locator("#combo-table thead th").all_text_contents()
    assert "relu" in headers and "batch_norm" in headers
    assert page.locator("#combo-table tbody tr[data-testid=combo-row]").count() == n_combos
    assert page.locator("#runs-table tbody tr[data-testid=run-row]").count() == 8
    assert page.locator("#runs-table tr[data-status=succeeded]").count() == 8

    page.screenshot(path=str(artifacts_dir / "experiment-page.png"), full_page=True)

    # One run: config, status, timings and all its curves.
    page.click("#runs-table tbody tr[data-testid=run-row] a")
    page.wait_for_selector("#run-timings")
    page.wait_for_function("document.querySelectorAll('[data-testid=run-curve]').length >= 2")
    keys = page.eval_on_selector_all("[data-testid=run-curve]", "els => els.map(e => e.dataset.key)")
    assert {"train_loss", "val_accuracy"} <= set(keys)
    assert "succeeded" in page.text_content("#run-status")
    assert page.text_content("#run-final-metrics").count("test_accuracy") == 1
    page.screenshot(path=str(artifacts_dir / "run-page.png"), full_page=True)

    # Zooming refetches the visible step range from the server.
    with page.expect_request(lambda r: "/metrics/train_loss" in r.url and "start_step=" in r.url) as zoomed:
        page.evaluate("Plotly.relayout('run-curve-train_loss', {'xaxis.range': [3, 12]})")
    assert "end_step=12" in zoomed.value.url


def test_user_supplied_names_render_as_text(anon_page: Any, tricklab_server: str) -> None:
    page = anon_page
    spec = {
        "name": XSS_NAME,
        "task": "digits",
        "base": {"epochs": 1, "depth": 1, "width": 16, "max_steps": 5},
        "factors": ["relu"],
        "seeds": 1,
    }
    created = httpx.post(f"{tricklab_server}/api/v1/experiments", json=spec, headers=ADMIN_HEADERS)
    assert created.status_code == 201, created.text
    exp_id = created.json()["id"]

    login_with_token(page, tricklab_server)  # a real cookie session, as a user gets it
    assert "token=" not in page.url
    page.goto(f"{tricklab_server}/#/")
    link = page.locator(f"#experiments-table tr[data-id='{exp_id}'] [data-testid=experiment-link]")
    link.wait_for()
    assert link.text_content() == XSS_NAME
    assert page.locator("#experiments-table img").count() == 0

    page.goto(f"{tricklab_server}/#/experiments/{exp_id}")
    page.wait_for_selector("#experiment-name:not(:empty)")
    assert page.text_content("#experiment-name") == XSS_NAME
    assert page.locator("#experiment-page img").count() == 0
    page.wait_for_timeout(500)  # give a would-be onerror handler time to fire (the page fixture fails on dialogs)


def test_form_shows_validation_errors_next_to_the_field(page: Any, tricklab_server: str) -> None:
    page.goto(f"{tricklab_server}/#/new")
    page.wait_for_selector("#preview-count[data-runs]")
    page.fill("#base-epochs", "0")
    page.check("#trick-warmup")
    page.fill("#trick-warmup-epochs", "-1")
    page.wait_for_selector("[data-error-for=base-epochs]:not(:empty)")
    page.wait_for_selector("[data-error-for=trick-warmup-epochs]:not(:empty)")
    assert "must be" in page.text_content("[data-error-for=base-epochs]")
    assert page.get_attribute("#base-epochs", "aria-invalid") == "true"
    # Fixing the fields clears the errors and brings the cost back.
    page.fill("#base-epochs", "1")
    page.fill("#trick-warmup-epochs", "1")
    page.wait_for_function("document.querySelector('#preview-count').dataset.runs === '6'")
    assert page.text_content("[data-error-for=base-epochs]") == ""


def test_index_preloads_every_module_app_js_imports() -> None:
    """index.html's modulepreload list is the static import graph of app.js, so nothing waits an import level."""
    frontend = REPO_ROOT / "frontend"
    imports = re.compile(r'^\s*import\s[^;]*?from\s+"(/js/[^"]+)"', re.MULTILINE)
    graph: set[str] = set()
    todo = ["/js/app.js"]
    while todo:
        module = todo.pop()
        for imported in imports.findall((frontend / module.lstrip("/")).read_text()):
            if imported not in graph:
                graph.add(imported)
                todo.append(imported)
    index = (frontend / "index.html").read_text()
    preloaded = re.findall(r'<link rel="modulepreload" href="([^"]+)">', index)
    assert len(preloaded) == len(set(preloaded))
    assert set(preloaded) == graph
