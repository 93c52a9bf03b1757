"""Experiment page data: 1,024 finished runs x 3 curve keys x 1,000 steps.

A real ``tricklab server`` (uvicorn, SQLite) on a store filled through the service layer (the
same insert path as the workers, rollups included). Subject 1: the requests the dashboard makes for
the page (the analysis, and the curves of train_loss and val_accuracy at 200 points), one after
another over HTTP; page data is their sum. Target: <= 300 ms p95. Printed per phase: the first load
after the server started (cold), ``--requests`` loads of the unchanged experiment (warm: the
server's payload cache), as many revalidations with the ETags a browser holds (304), and
``--changes`` loads each right after a metric batch and a final metric were written (every payload
recomputed, as on a live experiment). ``--baseline-src DIR`` (an older ``backend/`` tree, e.g. from
``git archive``) serves the same data from a second server, every round loaded from both in
alternating order, and prints this build / baseline per round.

Subject 2: Chromium (``--chromium``, default /usr/bin/chromium, through Playwright) opening the
experiment page until the first Plotly chart is drawn, each time in a fresh browser context.
Target: <= 2 s.

    python benchmarks/bench_page.py [--tricks 8 --seeds 4 --steps 1000] [--no-browser] [--baseline-src DIR]
    python benchmarks/bench_page.py --quick
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import AUTH, Summary, header, parser, ratios, start_tricklab, stop_tricklab, verdict

KEYS = ("train_loss", "val_loss", "val_accuracy")
TRICKS = ["cyclic_lr", "focal_loss", "warmup", "flooding", "dropout", "batch_norm", "label_smoothing", "relu"]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class _Producer:
    def send_task(self, *_a: Any, **_kw: Any) -> Any:
        return type("Result", (), {"id": None})()


def populate(database_url: str, n_tricks: int, seeds: int, steps: int) -> int:
    """One finished experiment, every run with its curves and final metrics; returns its id."""
    from sqlalchemy import insert, select, update
    from tricklab.db.models import FinalMetric, Run
    from tricklab.db.session import make_engine, make_session_factory
    from tricklab.db.types import utcnow
    from tricklab.reporting import MetricPoint
    from tricklab.schemas.spec import ExperimentSpec
    from tricklab.services import experiments, metrics

    spec = ExperimentSpec.model_validate(
        {"name": "page-bench", "task": "digits", "base": {"epochs": 1}, "factors": TRICKS[:n_tricks], "seeds": seeds}
    )
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        created = experiments.create_experiment(
            db_session=s, spec=spec, celery_app=_Producer(), public_url="http://127.0.0.1"
        )
    t0 = time.perf_counter()
    with sessions() as s:
        runs = s.execute(select(Run.id, Run.tricks, Run.seed).where(Run.experiment_id == created.id)).all()
        now = utcnow()
        for run_id, tricks, seed in runs:
            speed = 1.0 + 0.1 * len(tricks) + 0.01 * seed
            points = [
                MetricPoint(key, step, value, float(step))
                for step in range(1, steps + 1)
                for key, value in (
                    ("train_loss", 2.3 * math.exp(-speed * step / steps) + 0.01 * math.sin(step)),
                    ("val_loss", 2.4 * math.exp(-speed * step / steps)),
                    ("val_accuracy", 1.0 - 0.9 * math.exp(-speed * step / steps)),
                )
            ]
            metrics.insert_points(s, run_id, points)
            accuracy = 0.9 + 0.01 * len(tricks) + 0.002 * seed
            s.execute(
                insert(FinalMetric),
                [
                    {"run_id": run_id, "key": "test_accuracy", "value": accuracy},
                    {"run_id": run_id, "key": "test_loss", "value": 1.0 - accuracy},
                ],
            )
        s.execute(
            update(Run)
            .where(Run.experiment_id == created.id)
            .values(
                status="succeeded", attempt=1, progress=1.0, started_at=now - timedelta(seconds=30), finished_at=now
            )
        )
        experiments.refresh_experiment_status(s, created.id, now)
        s.commit()
    print(f"   stored {len(runs)} runs x {len(KEYS)} keys x {steps} steps in {time.perf_counter() - t0:.0f} s")
    engine.dispose()
    return created.id


def serve(data_dir: Path, source: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A ``tricklab server`` on the data directory; from an older source tree's ``backend/`` when given."""
    env = {**os.environ, "TRICKLAB_DATA_DIR": str(data_dir), "TRICKLAB_FRONTEND_DIR": str(Path("frontend").resolve())}
    if source is not None:
        env["PYTHONPATH"] = str((source / "backend").resolve())
    log_path = data_dir / ("server-baseline.log" if source is not None else "server.log")
    return start_tricklab(["server", "--loglevel", "WARNING"], env=env, log_path=log_path)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


# What the dashboard's experiment page requests (frontend/js/pages/experiment.js: loadAnalysis, loadCurves).
PAGE_REQUESTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("analysis", "analysis", {}),
    ("curves train_loss", "curves", {"key": "train_loss", "points": 200}),
    ("curves val_accuracy", "curves", {"key": "val_accuracy", "points": 200}),
)


def page_round(client: Any, experiment_id: int, etags: dict[str, str] | None = None) -> dict[str, float]:
    """The page's requests one after another (the browser sends them concurrently: this is conservative).

    With ``etags`` each request revalidates the copy a browser holds (If-None-Match) and must get 304.
    """
    out: dict[str, float] = {}
    for name, path, params in PAGE_REQUESTS:
        headers = {"If-None-Match": etags[name]} if etags is not None else {}
        t0 = time.perf_counter()
        res = client.get(f"/api/v1/experiments/{experiment_id}/{path}", params=params, headers=headers)
        out[name] = time.perf_counter() - t0
        expected = 304 if etags is not None else 200
        assert res.status_code == expected, (name, res.status_code, res.text[:300])
        if etags is None:
            body = res.json()
            assert body["combinations"] if path == "curves" else body["summary"], f"{name}: empty"
    out["page data"] = sum(out.values())
    return out


def etags_of(client: Any, experiment_id: int) -> dict[str, str] | None:
    """The page's ETags; None from a server that sends none (a build before the payload cache, for a before figure)."""
    tags = {
        name: client.get(f"/api/v1/experiments/{experiment_id}/{path}", params=params).headers.get("etag")
        for name, path, params in PAGE_REQUESTS
    }
    return None if None in tags.values() else {k: v for k, v in tags.items() if v is not None}


def change(sessions: Any, run_id: int, step: int) -> None:
    """What a live experiment does between two page loads: a metric batch of every key and a final metric."""
    from tricklab.reporting import MetricPoint
    from tricklab.services import leases, metrics

    with sessions() as s:
        points = [MetricPoint(key, step, 0.5, float(step)) for key in KEYS]
        metrics.log_metrics(db_session=s, run_id=run_id, attempt=1, points=points)
        leases.upsert_final_metrics(s, run_id, {"test_accuracy": 0.9 + 1e-6 * step})
        s.commit()


Phases = dict[str, dict[str, list[float]]]


def api_timings(
    servers: dict[str, str], experiment_id: int, n: int, changes: int, database_url: str, new_step: int
) -> dict[str, Phases]:
    """Per server and request: the first page load after the server started, n loads of the unchanged
    experiment, n revalidations with the ETags a browser holds, and ``changes`` loads each right after a
    change. With two servers every round loads the page from both, the order flipped every round."""
    import httpx
    from sqlalchemy import select
    from tricklab.db.models import Run
    from tricklab.db.session import make_engine, make_session_factory

    out: dict[str, Phases] = {name: {"cold": {}, "warm": {}, "304": {}, "after a change": {}} for name in servers}

    def record(server: str, phase: str, figures: dict[str, float]) -> None:
        for name, seconds in figures.items():
            out[server][phase].setdefault(name, []).append(seconds)

    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        run_id = s.scalars(select(Run.id).where(Run.experiment_id == experiment_id).order_by(Run.id)).first()
    assert run_id is not None
    clients = {name: httpx.Client(base_url=base, headers=AUTH, timeout=120) for name, base in servers.items()}

    def each(r: int) -> list[tuple[str, httpx.Client]]:
        pairs = list(clients.items())
        return pairs if r % 2 == 0 else pairs[::-1]

    try:
        for name, client in each(0):
            record(name, "cold", page_round(client, experiment_id))
        for r in range(n):
            for name, client in each(r):
                record(name, "warm", page_round(client, experiment_id))
        etags = {name: etags_of(client, experiment_id) for name, client in clients.items()}
        for r in range(n):
            for name, client in each(r):
                if etags[name] is not None:
                    record(name, "304", page_round(client, experiment_id, etags[name]))
        for i in range(changes):
            change(sessions, run_id, new_step + i)
            for name, client in each(i):
                record(name, "after a change", page_round(client, experiment_id))
                fresh, old = etags_of(client, experiment_id), etags[name]
                if old is not None and fresh is not None:
                    assert all(fresh[k] != old[k] for k in old), "a change left a payload's ETag as it was"
                etags[name] = fresh
    finally:
        for client in clients.values():
            client.close()
        engine.dispose()
    return out


def report(timings: dict[str, Phases]) -> None:
    """Each server's figures per phase; with a baseline, this build / baseline per round of page data."""
    for server, phases in timings.items():
        for phase, requests in phases.items():
            if not requests:
                continue
            print(f"   {server}, {phase}:")
            for name, values in requests.items():
                ms = Summary([v * 1000 for v in values])
                print(f"      GET {name}: p95 {p95(ms.values):.0f} ms, median {ms.fmt(' ms', 3)}")
    if "baseline" in timings:
        for phase in ("cold", "warm", "after a change"):
            a, b = timings["this build"][phase]["page data"], timings["baseline"][phase]["page data"]
            print(f"   page data {phase}, this build / baseline per round: {ratios(Summary(a), Summary(b)).fmt()}")


def first_chart(base: str, experiment_id: int, chromium: str, n: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    out: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for _ in range(n):
            context = browser.new_context(viewport={"width": 1360, "height": 900}, extra_http_headers=AUTH)
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(f"{base}/#/experiments/{experiment_id}")
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
            out.append(time.perf_counter() - t0)
            context.close()
        browser.close()
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--tricks", type=int, default=8, help="trick factors (2^k combinations)")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--steps", type=int, default=1_000)
    p.add_argument("--requests", type=int, default=20, help="page loads of the unchanged experiment")
    p.add_argument("--changes", type=int, default=10, help="page loads each right after a metric write")
    p.add_argument(
        "--baseline-src",
        type=Path,
        default=None,
        help="an older source tree (git archive <commit> backend | tar -x -C DIR): its server is measured"
        " alongside on the same data, rounds interleaved",
    )
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--no-browser", action="store_true")
    args = p.parse_args()
    n_tricks, seeds, steps, requests, changes, loads = (
        (3, 2, 50, 2, 1, 1)
        if args.quick
        else (args.tricks, args.seeds, args.steps, args.requests, args.changes, args.repeats)
    )
    header(f"experiment page, {2**n_tricks * seeds} runs x {len(KEYS)} keys x {steps} steps", args.quick)
    from tricklab.db.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="tricklab-bench-page-") as d:
        data_dir = Path(d)
        url = f"sqlite:///{data_dir / 'tricklab.sqlite'}"
        upgrade(url)
        experiment_id = populate(url, n_tricks, seeds, steps)
        proc, base = serve(data_dir)
        procs = [proc]
        try:
            servers = {"this build": base}
            if args.baseline_src is not None:
                baseline_proc, servers["baseline"] = serve(data_dir, args.baseline_src)
                procs.append(baseline_proc)
            timings = api_timings(servers, experiment_id, requests, changes, url, new_step=steps + 1)
            report(timings)
            phases = timings["this build"]
            page_p95 = p95(phases["warm"]["page data"]) * 1000
            verdict("page data", page_p95 <= 300, f"analysis + 2 curves p95 {page_p95:.0f} ms vs <= 300 ms (warm)")
            changed = phases["after a change"].get("page data")
            if changed:
                changed_p95 = p95(changed) * 1000
                verdict("page data after a change", changed_p95 <= 300, f"p95 {changed_p95:.0f} ms vs <= 300 ms")
            # --quick skips the browser: Chromium's start alone would take most of the CI smoke budget.
            if not (args.no_browser or args.quick) and Path(args.chromium).exists():
                chart = Summary(first_chart(base, experiment_id, args.chromium, loads))
                print(f"   Chromium, first chart drawn: {chart.fmt(' s')}")
                verdict("first chart", chart.median <= 2.0, f"median {chart.median:.2f} s vs <= 2 s")
        finally:
            for server in procs:
                stop_tricklab(server, timeout=15)


if __name__ == "__main__":
    main()
