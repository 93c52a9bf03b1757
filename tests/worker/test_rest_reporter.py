"""``RestRunReporter`` against an in-memory HTTP transport: re-send on transient errors; 409 is an answer."""

from __future__ import annotations

import json
import math

import httpx
import pytest
from tricklab.reporting import MetricPoint
from tricklab_worker.rest_reporter import ReportError, RestRunReporter, json_float


def reporter_for(answers: list[httpx.Response | Exception], seen: list[httpx.Request]) -> RestRunReporter:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return RestRunReporter(
        "http://api", "tok", retry_seconds=5, backoff_initial=0.01, transport=httpx.MockTransport(handle)
    )


def test_metrics_are_resent_after_transient_failures_with_the_token() -> None:
    seen: list[httpx.Request] = []
    reporter = reporter_for([httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(204)], seen)
    points = [MetricPoint("train_loss", 1, float("nan"), 0.0), MetricPoint("lr", 1, 0.1, 0.0)]
    reporter.log_metrics(run_id=7, attempt=2, points=points)
    assert len(seen) == 3 and all(r.url.path == "/api/v1/runs/7/metrics" for r in seen)
    assert seen[-1].headers["authorization"] == "Bearer tok"
    body = json.loads(seen[-1].content)
    # the columnar form, one entry per key
    assert body["attempt"] == 2 and "points" not in body
    assert body["series"] == [
        {"key": "train_loss", "steps": [1], "values": ["NaN"], "wall_times": [0.0]},
        {"key": "lr", "steps": [1], "values": [0.1], "wall_times": [0.0]},
    ]


def test_conflicts_are_answers_not_errors() -> None:
    seen: list[httpx.Request] = []
    reporter = reporter_for([httpx.Response(409), httpx.Response(409), httpx.Response(409)], seen)
    assert reporter.claim(run_id=1, attempt=1, worker_id="w") is None
    reporter.log_metrics(run_id=1, attempt=1, points=[MetricPoint("x", 1, 1.0, 0.0)])
    reporter.finish(run_id=1, attempt=1, status="succeeded", final_metrics={"a": math.inf})
    assert json.loads(seen[-1].content)["final_metrics"] == {"a": "Infinity"}


def test_permanent_refusals_and_exhausted_retries_raise() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(ReportError, match="HTTP 401"):
        reporter_for([httpx.Response(401, text="bad token")], seen).record_resume(run_id=1, attempt=2, step=5)
    failing = RestRunReporter(
        "http://api",
        None,
        retry_seconds=0.05,
        backoff_initial=0.01,
        transport=httpx.MockTransport(lambda _: httpx.Response(502)),
    )
    with pytest.raises(ReportError, match="HTTP 502"):
        failing.heartbeat(run_id=1, attempt=1, progress=0.5)
    assert json_float(-math.inf) == "-Infinity"
