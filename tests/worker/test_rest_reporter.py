"""``RestRunReporter`` against an in-memory HTTP transport: re-send on transient errors; 409 is an answer."""

from __future__ import annotations

import json
import math

import httpx
import numpy as np
import pytest
from tricklab.reporting import MetricPoint
from tricklab_worker.rest_reporter import ReportError, RestRunReporter, encode_body, json_float


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


def test_finish_and_claim_is_a_finish_then_a_claim() -> None:
    seen: list[httpx.Request] = []
    config = {"task": "digits", "base": {}, "seed": 3, "tricks": {}}
    claim_answer = httpx.Response(200, json={"run_id": 8, "attempt": 1, "config": config})
    reporter = reporter_for([httpx.Response(204), claim_answer], seen)
    claimed = reporter.finish_and_claim(
        run_id=7,
        attempt=1,
        status="failed",
        final_metrics={},
        error="boom",
        next_run_id=8,
        next_attempt=1,
        worker_id="w",
    )
    assert [r.url.path for r in seen] == ["/api/v1/runs/7/finish", "/api/v1/runs/8/claim"]
    assert json.loads(seen[0].content)["error"] == "boom"
    assert json.loads(seen[1].content) == {"attempt": 1, "worker_id": "w"}
    assert claimed is not None and (claimed.run_id, claimed.config.seed) == (8, 3)


def test_every_run_counts_as_claimable_without_a_request() -> None:
    seen: list[httpx.Request] = []
    reporter = reporter_for([], seen)
    assert reporter.claimable(runs=[(8, 1), (9, 2)]) == [(8, 1), (9, 2)]  # each claim decides
    assert seen == []


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


def test_bodies_round_trip_every_double_and_non_finite_values_as_strings() -> None:
    values = [0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308, -0.0, 1e-5, 123456789.123456789]
    body = json.loads(encode_body({"values": [*values, math.nan, math.inf, -math.inf], "steps": [0, 2**40]}))
    assert body["values"] == [*values, "NaN", "Infinity", "-Infinity"]
    assert body["steps"] == [0, 2**40]
    # numpy scalars that are not float subclasses still encode as numbers
    assert json.loads(encode_body({"v": [np.float32(0.5)]})) == {"v": [0.5]}


def test_points_of_several_keys_are_sent_column_by_column_in_order() -> None:
    seen: list[httpx.Request] = []
    reporter = reporter_for([httpx.Response(204)], seen)
    points = [MetricPoint(k, s, s / 7, 1_700_000_000.0 + s / 3) for s in range(50) for k in ("loss", "lr")]
    reporter.log_metrics(run_id=3, attempt=1, points=points)
    assert seen[0].headers["content-type"] == "application/json"
    series = json.loads(seen[0].content)["series"]
    assert [s["key"] for s in series] == ["loss", "lr"]
    for s in series:
        assert s["steps"] == list(range(50))
        assert s["values"] == [step / 7 for step in range(50)]
        assert s["wall_times"] == [1_700_000_000.0 + step / 3 for step in range(50)]
