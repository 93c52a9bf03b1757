"""Analysis routes against a real database: curves, analysis, exports, 404/422, partial results."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tricklab.db.models import FinalMetric, MetricPoint, Run
from tricklab.reporting import MetricPoint as ReportedPoint
from tricklab.services import analysis, leases, metrics
from tricklab.services.payload_cache import CACHE

SPEC: dict[str, Any] = {
    "name": "ls-warmup",
    "task": "digits",
    "base": {"epochs": 2},
    "factors": ["label_smoothing", "warmup"],
    "seeds": 3,
}


@pytest.fixture
def experiment(client: TestClient, db_session: Session) -> int:
    """4 combinations x 3 seeds; label_smoothing adds 0.05 accuracy and 0.1 loss; one run diverged, one queued."""
    exp_id = int(client.post("/api/v1/experiments", json=SPEC).json()["id"])
    runs = db_session.scalars(select(Run).where(Run.experiment_id == exp_id).order_by(Run.id)).all()
    for i, run in enumerate(runs):
        ls = "label_smoothing" in run.tricks
        if i == len(runs) - 1:
            continue  # still queued: results are partial
        if i == 0:
            run.status = "diverged"
            db_session.add(MetricPoint(run_id=run.id, key="train_loss", step=0, value=2.0, wall_time=0.0))
            db_session.add(
                MetricPoint(run_id=run.id, key="train_loss", step=1, value=None, non_finite="nan", wall_time=1)
            )
            continue
        run.status = "succeeded"
        db_session.add(FinalMetric(run_id=run.id, key="test_accuracy", value=0.8 + 0.05 * ls + 0.001 * run.seed))
        db_session.add(FinalMetric(run_id=run.id, key="test_loss", value=0.5))
        for step in range(50):
            loss = 1.0 / (step + 1) + 0.1 * ls
            db_session.add(MetricPoint(run_id=run.id, key="train_loss", step=step, value=loss, wall_time=float(step)))
            acc = min(1.0, step / (25 if ls else 40))
            db_session.add(MetricPoint(run_id=run.id, key="val_accuracy", step=step, value=acc, wall_time=float(step)))
    db_session.commit()
    return exp_id


def test_analysis_recovers_the_effect_and_counts_every_run(client: TestClient, experiment: int) -> None:
    res = client.get(f"/api/v1/experiments/{experiment}/analysis")
    assert res.status_code == 200
    body = res.json()
    assert body["metric"] == "test_accuracy" and body["direction"] == "maximize"
    assert body["counts"] == {"queued": 1, "running": 0, "succeeded": 10, "failed": 0, "diverged": 1, "cancelled": 0}
    assert (body["n_runs"], body["n_with_metric"], body["complete"]) == (12, 10, False)
    effects = {e["term"]: e for e in body["effects"]}
    assert effects["label_smoothing"]["estimate"] == pytest.approx(0.05, abs=1e-3)
    assert effects["warmup"]["estimate"] == pytest.approx(0.0, abs=1e-3)
    assert [e["term"] for e in body["interactions"]] == ["label_smoothing:warmup"]
    summary = {s["key"]: s for s in body["summary"]}
    assert set(summary) == {"base", "label_smoothing", "warmup", "label_smoothing+warmup"}
    assert summary["base"]["counts"]["diverged"] == 1 and summary["base"]["n"] == 2
    assert body["design"]["design"] == "full" and body["design"]["n_runs"] == 12
    assert body["one_at_a_time"] is None and body["speed"] is None
    assert any("partial" in w for w in body["warnings"])


def test_speed_to_target_and_speedup(client: TestClient, experiment: int) -> None:
    res = client.get(f"/api/v1/experiments/{experiment}/analysis", params={"target": 0.9})
    speed = res.json()["speed"]
    assert speed["curve_key"] == "val_accuracy" and speed["reference"] == "base"
    rows = {r["key"]: r for r in speed["rows"]}
    # label smoothing reaches 0.9 at step 23 (23/25 >= 0.9), without it at step 36
    assert rows["label_smoothing"]["median_steps"] == 23 and rows["warmup"]["median_steps"] == 36
    assert rows["label_smoothing"]["speedup"] == pytest.approx(36 / 23)
    # the diverged base run never reaches it and counts as never: median of (36, 36, never) is 36
    assert (rows["base"]["n_runs"], rows["base"]["n_reached"]) == (3, 2)


def test_curves_bands_and_paired_difference(client: TestClient, experiment: int) -> None:
    res = client.get(f"/api/v1/experiments/{experiment}/curves", params={"key": "train_loss", "points": 10})
    assert res.status_code == 200
    combos = {c["key"]: c for c in res.json()["combinations"]}
    ls = combos["label_smoothing"]
    assert len(ls["steps"]) == 10 and ls["steps"][0] == 0 and ls["n"][0] == 3
    assert ls["mean"][0] == pytest.approx(sum(1 / (s + 1) for s in range(5)) / 5 + 0.1)
    assert combos["base"]["n"][0] == 3 and combos["base"]["n"][1] == 2  # the diverged run stops at its NaN
    diff = client.get(
        f"/api/v1/experiments/{experiment}/curves",
        params={"key": "train_loss", "points": 10, "diff": "label_smoothing"},
    ).json()["diff"]
    assert diff["trick"] == "label_smoothing" and diff["n_pairs"] == 5
    assert diff["mean"][-1] == pytest.approx(0.1) and diff["lo"][-1] == pytest.approx(0.1)


def test_exports(client: TestClient, experiment: int) -> None:
    res = client.get(f"/api/v1/experiments/{experiment}/export", params={"format": "csv"})
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(res.text)))
    assert len(rows) == 12
    assert {"run_id", "status", "label_smoothing", "warmup", "test_accuracy", "test_loss"} <= set(rows[0])
    assert sorted(r["status"] for r in rows).count("succeeded") == 10
    js = client.get(f"/api/v1/experiments/{experiment}/export", params={"format": "json"}).json()
    assert len(js["runs"]) == 12 and js["analysis"]["metric"] == "test_accuracy"
    md = client.get(f"/api/v1/experiments/{experiment}/export", params={"format": "md"}).text
    assert "| label_smoothing |" in md and "## Effects" in md
    tex = client.get(f"/api/v1/experiments/{experiment}/export", params={"format": "tex"}).text
    assert r"\toprule" in tex and r"label\_smoothing" in tex


def test_errors(client: TestClient, experiment: int) -> None:
    assert client.get("/api/v1/experiments/999999/analysis").status_code == 404
    assert client.get("/api/v1/experiments/999999/curves").status_code == 404
    assert client.get("/api/v1/experiments/999999/export").status_code == 404
    bad = client.get(f"/api/v1/experiments/{experiment}/analysis", params={"metric": "nope"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "metric"]
    assert client.get(f"/api/v1/experiments/{experiment}/curves", params={"key": "nope"}).status_code == 422
    assert client.get(f"/api/v1/experiments/{experiment}/curves", params={"diff": "radam"}).status_code == 422
    assert client.get(f"/api/v1/experiments/{experiment}/export", params={"format": "xls"}).status_code == 422


def test_a_queued_experiment_renders_empty(client: TestClient) -> None:
    exp_id = client.post("/api/v1/experiments", json={**SPEC, "design": "leave_one_out"}).json()["id"]
    body = client.get(f"/api/v1/experiments/{exp_id}/analysis").json()
    assert body["model"] is None and all(e["estimate"] is None for e in body["effects"])
    assert [r["n_pairs"] for r in body["one_at_a_time"]] == [0, 0]
    curves = client.get(f"/api/v1/experiments/{exp_id}/curves").json()
    assert [c["key"] for c in curves["combinations"]] == ["label_smoothing+warmup", "warmup", "label_smoothing"]


@pytest.fixture
def empty_cache() -> Iterator[None]:
    CACHE.clear()
    yield
    CACHE.clear()


def _reference(db_session: Session, kind: str, experiment: int, **params: Any) -> Any:
    """The uncached service result, serialised as FastAPI serialises a response model."""
    fn = analysis.get_curves if kind == "curves" else analysis.get_analysis
    return jsonable_encoder(fn(db_session=db_session, experiment_id=experiment, **params))


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("curves", {"key": "train_loss", "points": 10}),
        ("curves", {"key": "val_accuracy", "points": 200, "diff": "label_smoothing"}),
        ("analysis", {}),
        ("analysis", {"target": 0.9}),
        ("analysis", {"metric": "test_loss"}),
    ],
)
def test_cached_answers_equal_the_uncached_service(
    client: TestClient, db_session: Session, experiment: int, empty_cache: None, kind: str, params: dict[str, Any]
) -> None:
    url = f"/api/v1/experiments/{experiment}/{kind}"
    cold = client.get(url, params=params)
    warm = client.get(url, params=params)
    assert cold.status_code == warm.status_code == 200 and len(CACHE) == 1
    assert cold.content == warm.content and cold.headers["etag"] == warm.headers["etag"]
    assert cold.headers["cache-control"] == "private, no-cache"
    assert cold.json() == _reference(db_session, kind, experiment, **params)
    unchanged = client.get(url, params=params, headers={"If-None-Match": cold.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == cold.headers["etag"]


def test_a_live_experiment_is_recomputed_on_every_change(
    client: TestClient, db_session: Session, experiment: int, empty_cache: None
) -> None:
    runs = db_session.scalars(select(Run).where(Run.experiment_id == experiment).order_by(Run.id)).all()
    queued = runs[-1]  # the fixture's last run was never claimed
    leases.claim_run(db_session=db_session, run_id=queued.id, attempt=1, worker_id="w", lease_seconds=30)
    urls = {
        "curves": (f"/api/v1/experiments/{experiment}/curves", {"key": "val_accuracy", "points": 10}),
        "analysis": (f"/api/v1/experiments/{experiment}/analysis", {"target": 0.9}),
    }

    def check_all_current(etags: dict[str, str]) -> dict[str, str]:
        out = {}
        for kind, (url, params) in urls.items():
            res = client.get(url, params=params, headers={"If-None-Match": etags.get(kind, "")})
            assert res.status_code == 200, f"{kind} was not recomputed"
            assert res.json() == _reference(db_session, kind, experiment, **params)
            out[kind] = res.headers["etag"]
        return out

    etags = check_all_current({})
    # a metric batch of the running run changes its curve and its time to target
    acc = [ReportedPoint("val_accuracy", s, min(1.0, s / 10), float(s)) for s in range(20)]
    metrics.log_metrics(db_session=db_session, run_id=queued.id, attempt=1, points=acc)
    etags = check_all_current(etags)
    # the run finishes: its status, time and final metrics change the analysis (and its curves' run table)
    leases.finish_run(
        db_session=db_session, run_id=queued.id, attempt=1, status="succeeded", final_metrics={"test_accuracy": 0.9}
    )
    new = check_all_current(etags)
    assert new != etags


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


def test_run_table_is_the_orm_rows(db_session: Session, experiment: int) -> None:
    """load_table reads the driver's raw rows: the same records as the ORM's typed columns."""
    runs = db_session.scalars(select(Run).where(Run.experiment_id == experiment).order_by(Run.id)).all()
    start = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    runs[1].started_at, runs[1].finished_at = start, start + timedelta(seconds=90.25)
    runs[2].started_at, runs[2].error = start, "boom"
    db_session.commit()
    _, table = analysis.load_table(db_session=db_session, experiment_id=experiment)
    db_session.expire_all()
    rows = db_session.scalars(select(Run).where(Run.experiment_id == experiment).order_by(Run.id)).all()
    expected = [
        (r.id, r.combo_key, tuple(r.tricks), r.levels, r.seed, r.status, r.error, _seconds(r.started_at, r.finished_at))
        for r in rows
    ]
    got = [
        (r.run_id, r.combo_key, r.tricks, r.levels, r.seed, r.status, r.error, r.duration_seconds) for r in table.runs
    ]
    assert got == expected and got[1][-1] == 90.25 and got[2][-1] is None and got[2][-2] == "boom"
    finals: dict[int, dict[str, float]] = {}
    for m in db_session.scalars(select(FinalMetric).where(FinalMetric.run_id.in_([r.id for r in rows]))):
        finals.setdefault(m.run_id, {})[m.key] = m.value
    assert {r.run_id: r.metrics for r in table.runs if r.metrics} == finals and len(finals) == 10
