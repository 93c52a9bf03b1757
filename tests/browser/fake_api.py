"""A stand-in server speaking docs/API.md with simulated training, for the dashboard.

It lets the dashboard's views be developed and checked in seconds, with data whose
answer is known (warmup helps, dropout hurts), without torch or a worker. Catalog,
spec validation and design expansion are the real ones (``tricklab.catalog``,
``tricklab.schemas.spec``, ``tricklab.design``); runs, metrics and statistics are
simulated. The product itself is tested in test_dashboard.py against ``tricklab up``.

Run: ``.venv/bin/uvicorn --factory tests.browser.fake_api:create_app --port 8765``
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import plotly
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from tricklab.catalog.tasks import all_tasks
from tricklab.catalog.tricks import TRICKS
from tricklab.design import design_info, expand_design
from tricklab.schemas.spec import ExperimentSpec, SpecError, resolve_spec

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
EFFECTS = {"warmup": 0.03, "batch_norm": 0.02, "relu": 0.04, "dropout": -0.02, "label_smoothing": 0.005}
STEPS = 20


def now() -> str:
    return datetime.now(UTC).isoformat()


class Store:
    def __init__(self, step_seconds: float) -> None:
        self.step_seconds = step_seconds
        self.experiments: dict[int, dict[str, Any]] = {}
        self.runs: dict[int, dict[str, Any]] = {}
        self.curves: dict[tuple[int, str], list[tuple[int, float]]] = {}

    def experiment_out(self, exp: dict[str, Any]) -> dict[str, Any]:
        runs = [self.runs[i] for i in exp["run_ids"]]
        counts = {s: 0 for s in ("queued", "running", "succeeded", "failed", "diverged", "cancelled")}
        for r in runs:
            counts[r["status"]] += 1
        done = sum(counts[s] for s in ("succeeded", "failed", "diverged", "cancelled"))
        status = "finished" if done == len(runs) else "running" if done or counts["running"] else "queued"
        if exp.get("cancelled"):
            status = "cancelled"
        return {
            **{k: v for k, v in exp.items() if k != "run_ids"},
            "status": status,
            "counts": counts,
            "progress": sum(1 if r["status"] not in ("queued", "running") else r["progress"] for r in runs) / len(runs),
            "finished_at": now() if status == "finished" else None,
        }

    def brief(self, run: dict[str, Any]) -> dict[str, Any]:
        return {k: run[k] for k in ("id", "combo_key", "seed", "status", "progress", "attempt", "error")}

    def create(self, spec: ExperimentSpec) -> dict[str, Any]:
        resolved = resolve_spec(spec)
        combos = expand_design(resolved)
        exp_id = len(self.experiments) + 1
        exp: dict[str, Any] = {
            "id": exp_id,
            "name": spec.name,
            "task": spec.task,
            "spec": spec.model_dump(),
            "created_at": now(),
            "n_runs": len(combos) * spec.seeds,
            "metric": spec.metric,
            "direction": resolved.direction,
            "factors": [f.name for f in resolved.factors],
            "combinations": [{"key": c.key, "tricks": c.tricks, "levels": c.levels} for c in combos],
            "design_info": design_info(resolved).model_dump(),
            "run_ids": [],
        }
        for combo in combos:
            for seed in range(spec.seeds):
                run_id = len(self.runs) + 1
                self.runs[run_id] = {
                    "id": run_id,
                    "experiment_id": exp_id,
                    "combo_key": combo.key,
                    "tricks": combo.tricks,
                    "levels": combo.levels,
                    "seed": seed,
                    "status": "queued",
                    "attempt": 0,
                    "worker_id": None,
                    "config": {"task": spec.task, "base": resolved.base, "tricks": combo.tricks, "seed": seed},
                    "queued_at": now(),
                    "started_at": None,
                    "finished_at": None,
                    "heartbeat_at": None,
                    "duration_seconds": None,
                    "progress": 0.0,
                    "error": None,
                    "final_metrics": {},
                    "attempts": [],
                }
                exp["run_ids"].append(run_id)
        self.experiments[exp_id] = exp
        return exp

    def step(self) -> None:
        """Advance up to two runs by one step: the 'worker'."""
        active = [r for r in self.runs.values() if r["status"] == "running"]
        for run in [r for r in self.runs.values() if r["status"] == "queued"][: 2 - len(active)]:
            run.update(status="running", attempt=1, worker_id="fake-0", started_at=now())
            run["attempts"] = [
                {
                    "attempt": 1,
                    "worker_id": "fake-0",
                    "started_at": now(),
                    "ended_at": None,
                    "outcome": None,
                    "reason": None,
                }
            ]
            active.append(run)
        for run in active:
            rng = random.Random(run["id"])
            gain = sum(EFFECTS.get(t, 0.0) for t in run["tricks"])
            if {"relu", "warmup"} <= set(run["tricks"]):
                gain += 0.015  # a planted interaction
            step = int(run["progress"] * STEPS) + 1
            noise = rng.gauss(0, 0.02) + random.gauss(0, 0.01)
            loss = 2.3 * math.exp(-step * (0.12 + gain)) + 0.05 + abs(noise)
            self.curves.setdefault((run["id"], "train_loss"), []).append((step * 10, loss))
            acc = min(0.99, 0.8 + gain + 0.12 * (1 - math.exp(-step / 5)) + noise)
            self.curves.setdefault((run["id"], "val_accuracy"), []).append((step * 10, acc))
            run["progress"] = step / STEPS
            run["heartbeat_at"] = now()
            if step >= STEPS:
                if "fail" in self.experiments[run["experiment_id"]]["name"] and run["seed"] == 0:
                    run.update(status="failed", error="RuntimeError: simulated failure <b>not bold</b>")
                else:
                    run.update(status="succeeded")
                    run["final_metrics"] = {"test_accuracy": acc - 0.005, "test_loss": loss, "ece": 0.03}
                run.update(finished_at=now(), duration_seconds=STEPS * self.step_seconds)
                run["attempts"][0].update(ended_at=now(), outcome=run["status"], reason=run["error"])


def _ci(values: list[float]) -> tuple[float | None, float | None, float | None, float | None]:
    n = len(values)
    if not n:
        return None, None, None, None
    mean = sum(values) / n
    if n < 2:
        return mean, None, None, None
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = 1.96 * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def analysis(store: Store, exp: dict[str, Any], metric: str) -> dict[str, Any]:
    runs = [store.runs[i] for i in exp["run_ids"]]
    value = {r["id"]: r["final_metrics"].get(metric) for r in runs}
    summary = []
    for combo in exp["combinations"]:
        mine = [r for r in runs if r["combo_key"] == combo["key"]]
        vals = [value[r["id"]] for r in mine if value[r["id"]] is not None]
        mean, std, lo, hi = _ci(vals)
        counts = {
            s: sum(r["status"] == s for r in mine)
            for s in ("queued", "running", "succeeded", "failed", "diverged", "cancelled")
        }
        summary.append(
            {
                "key": combo["key"],
                "tricks": sorted(combo["tricks"]),
                "levels": combo["levels"],
                "n": len(vals),
                "n_runs": len(mine),
                "mean": mean,
                "std": std,
                "ci_lo": lo,
                "ci_hi": hi,
                "counts": counts,
                "divergence_rate": None,
            }
        )
    tricks = exp["design_info"]["trick_factors"]

    def effect(names: list[str]) -> dict[str, Any]:
        diffs: dict[int, list[float]] = {1: [], -1: []}
        for r in runs:
            if value[r["id"]] is None:
                continue
            sign = math.prod(1 if t in r["tricks"] else -1 for t in names)
            diffs[sign].append(value[r["id"]])
        on, _, _, _ = _ci(diffs[1])
        off, _, _, _ = _ci(diffs[-1])
        est = None if on is None or off is None else (on - off) * (1 if len(names) == 1 else 2)
        _, s1, _, _ = _ci(diffs[1])
        _, s0, _, _ = _ci(diffs[-1])
        se = None if s1 is None or s0 is None else math.sqrt(s1**2 / len(diffs[1]) + s0**2 / len(diffs[-1]))
        p = None if se in (None, 0) or est is None else math.erfc(abs(est / se) / math.sqrt(2))
        return {
            "term": ":".join(names),
            "kind": "main" if len(names) == 1 else "interaction",
            "factors": names,
            "estimate": est,
            "std_error": se,
            "ci_lo": None if se is None or est is None else est - 1.96 * se,
            "ci_hi": None if se is None or est is None else est + 1.96 * se,
            "p_value": p,
            "estimable": est is not None,
            "aliased_with": [],
            "improves": None if est is None else bool(p is not None and p < 0.05 and est > 0),
        }

    done = all(r["status"] not in ("queued", "running") for r in runs)
    return {
        "experiment_id": exp["id"],
        "metric": metric,
        "direction": exp["direction"],
        "design": exp["design_info"],
        "counts": store.experiment_out(exp)["counts"],
        "n_runs": len(runs),
        "n_with_metric": sum(v is not None for v in value.values()),
        "complete": done,
        "summary": summary,
        "effects": [effect([t]) for t in tricks],
        "interactions": [effect(list(p)) for p in combinations(tricks, 2)],
        "model": None,
        "one_at_a_time": None,
        "speed": None,
        "warnings": [],
    }


def curves(store: Store, exp: dict[str, Any], key: str, diff: str | None) -> dict[str, Any]:
    out = []
    by_combo: dict[str, dict[int, dict[int, float]]] = {}
    for run_id in exp["run_ids"]:
        run = store.runs[run_id]
        series = dict(store.curves.get((run_id, key), []))
        by_combo.setdefault(run["combo_key"], {})[run["seed"]] = series
    for combo in exp["combinations"]:
        seeds = by_combo.get(combo["key"], {})
        steps = sorted({s for series in seeds.values() for s in series})
        mean, lo, hi, n = [], [], [], []
        for s in steps:
            m, _, a, b = _ci([series[s] for series in seeds.values() if s in series])
            mean.append(m)
            lo.append(a if a is not None else m)
            hi.append(b if b is not None else m)
            n.append(sum(s in series for series in seeds.values()))
        out.append(
            {
                "key": combo["key"],
                "tricks": sorted(combo["tricks"]),
                "levels": combo["levels"],
                "steps": steps,
                "mean": mean,
                "lo": lo,
                "hi": hi,
                "n": n,
            }
        )
    diff_out = None
    if diff:
        partner = {frozenset(o["tricks"]): o for o in out}
        pairs = [
            (c, partner[frozenset({*c["tricks"], diff})])
            for c in out
            if diff not in c["tricks"] and frozenset({*c["tricks"], diff}) in partner
        ]
        steps = sorted(set.intersection(*[set(a["steps"]) & set(b["steps"]) for a, b in pairs])) if pairs else []
        mean, lo, hi, n = [], [], [], []
        for s in steps:
            d = [b["mean"][b["steps"].index(s)] - a["mean"][a["steps"].index(s)] for a, b in pairs]
            m, _, x, y = _ci(d)
            mean.append(m)
            lo.append(x if x is not None else m)
            hi.append(y if y is not None else m)
            n.append(len(d))
        diff_out = {"trick": diff, "steps": steps, "mean": mean, "lo": lo, "hi": hi, "n": n, "n_pairs": len(pairs)}
    return {"key": key, "points": 200, "combinations": out, "diff": diff_out}


def create_app(step_seconds: float | None = None) -> FastAPI:
    if step_seconds is None:
        step_seconds = float(os.environ.get("FAKE_API_STEP_SECONDS", "0.15"))
    store = Store(step_seconds)

    async def ticker() -> None:
        while True:
            await asyncio.sleep(step_seconds)
            store.step()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(ticker())
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)
    app.state.store = store

    def get_exp(exp_id: int) -> dict[str, Any]:
        if exp_id not in store.experiments:
            raise HTTPException(404, f"experiment {exp_id} not found")
        return store.experiments[exp_id]

    def spec_or_422(body: dict[str, Any]) -> ExperimentSpec:
        try:
            spec = ExperimentSpec.model_validate(body)
            resolve_spec(spec)
            return spec
        except SpecError as exc:
            raise HTTPException(
                422, [{"loc": ["body", *e.loc], "msg": e.msg, "type": "value_error"} for e in exc.errors]
            ) from exc

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "database": "ok", "version": "fake"}

    @app.get("/api/v1/tasks")
    def tasks() -> list[dict[str, Any]]:
        return [t.model_dump() for t in all_tasks().values()]

    @app.get("/api/v1/tricks")
    def tricks() -> list[dict[str, Any]]:
        return [t.model_dump() for t in TRICKS.values()]

    @app.post("/api/v1/experiments/preview")
    async def preview(request: Request) -> dict[str, Any]:
        spec = spec_or_422(await request.json())
        combos = expand_design(resolve_spec(spec))
        return {
            "n_combinations": len(combos),
            "n_runs": len(combos) * spec.seeds,
            "design": spec.design,
            "combinations": [{"key": c.key, "tricks": c.tricks, "levels": c.levels} for c in combos],
        }

    @app.post("/api/v1/experiments", status_code=201)
    async def create(request: Request) -> dict[str, Any]:
        exp = store.create(spec_or_422(await request.json()))
        return {"id": exp["id"], "name": exp["name"], "n_runs": exp["n_runs"], "url": f"/#/experiments/{exp['id']}"}

    @app.get("/api/v1/experiments")
    def list_experiments() -> dict[str, Any]:
        items = [store.experiment_out(e) for e in reversed(store.experiments.values())]
        return {"items": items, "total": len(items), "offset": 0, "limit": 100}

    @app.get("/api/v1/experiments/{exp_id}")
    def get_experiment(exp_id: int) -> dict[str, Any]:
        return store.experiment_out(get_exp(exp_id))

    @app.post("/api/v1/experiments/{exp_id}/cancel")
    def cancel_experiment(exp_id: int) -> dict[str, Any]:
        exp = get_exp(exp_id)
        for run_id in exp["run_ids"]:
            if store.runs[run_id]["status"] in ("queued", "running"):
                store.runs[run_id]["status"] = "cancelled"
        exp["cancelled"] = True
        return store.experiment_out(exp)

    @app.get("/api/v1/experiments/{exp_id}/runs")
    def runs(exp_id: int) -> dict[str, Any]:
        items = [store.runs[i] for i in get_exp(exp_id)["run_ids"]]
        return {"items": items, "total": len(items), "offset": 0, "limit": 500}

    @app.get("/api/v1/experiments/{exp_id}/events")
    async def events(exp_id: int) -> StreamingResponse:
        exp = get_exp(exp_id)

        async def stream() -> AsyncIterator[str]:
            last = {i: store.brief(store.runs[i]) for i in exp["run_ids"]}
            snapshot = {"experiment": store.experiment_out(exp), "runs": list(last.values())}
            yield f"event: snapshot\ndata: {json.dumps(snapshot)}\n\n"
            while True:
                if all(b["status"] not in ("queued", "running") for b in last.values()):
                    yield f"event: end\ndata: {json.dumps({'experiment': store.experiment_out(exp), 'runs': []})}\n\n"
                    return
                await asyncio.sleep(0.5)
                now_ = {i: store.brief(store.runs[i]) for i in exp["run_ids"]}
                changed = [b for i, b in now_.items() if b != last[i]]
                last = now_
                if changed:
                    update = {"experiment": store.experiment_out(exp), "runs": changed}
                    yield f"event: update\ndata: {json.dumps(update)}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/api/v1/experiments/{exp_id}/analysis")
    def get_analysis(exp_id: int, metric: str = "test_accuracy") -> dict[str, Any]:
        return analysis(store, get_exp(exp_id), metric)

    @app.get("/api/v1/experiments/{exp_id}/curves")
    def get_curves(exp_id: int, key: str, diff: str | None = None) -> dict[str, Any]:
        return curves(store, get_exp(exp_id), key, diff)

    @app.get("/api/v1/runs/{run_id}")
    def get_run(run_id: int) -> dict[str, Any]:
        if run_id not in store.runs:
            raise HTTPException(404, f"run {run_id} not found")
        return store.runs[run_id]

    @app.post("/api/v1/runs/{run_id}/cancel")
    def cancel_run(run_id: int) -> JSONResponse:
        run = get_run(run_id)
        if run["status"] not in ("queued", "running"):
            return JSONResponse({"detail": "run already finished"}, status_code=409)
        run["status"] = "cancelled"
        return JSONResponse(run)

    @app.get("/api/v1/runs/{run_id}/metrics")
    def metric_keys(run_id: int) -> dict[str, Any]:
        keys = [k for (r, k) in store.curves if r == run_id]
        return {
            "keys": [
                {
                    "key": k,
                    "count": len(store.curves[(run_id, k)]),
                    "last_step": store.curves[(run_id, k)][-1][0],
                    "last_value": store.curves[(run_id, k)][-1][1],
                }
                for k in keys
            ]
        }

    @app.get("/api/v1/runs/{run_id}/metrics/{key}")
    def metric(
        run_id: int, key: str, max_points: int = 1000, start_step: int | None = None, end_step: int | None = None
    ) -> dict[str, Any]:
        points = [
            (s, v)
            for s, v in store.curves.get((run_id, key), [])
            if (start_step is None or s >= start_step) and (end_step is None or s <= end_step)
        ]
        values = [v for _, v in points]
        return {
            "key": key,
            "steps": [s for s, _ in points],
            "values": values,
            "mins": values,
            "maxs": values,
            "total_points": len(points),
            "downsampled": False,
        }

    @app.get("/static/vendor/plotly.min.js")
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="application/javascript")

    app.mount("/", StaticFiles(directory=FRONTEND, html=True), name="frontend")
    return app
