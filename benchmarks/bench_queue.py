"""Queue overhead: a batch of short runs through Celery + worker vs the same runs back to back in one process.

Subject: ``tricklab up`` (API + embedded SQLite broker + one supervised worker, concurrency 1),
kept running across repetitions; each repetition submits one experiment over the REST API and
ends when the store says its last run finished (the experiment's ``finished_at``: the status
poll, 4 per second, neither rounds the figure up nor competes much for the cores). Dispatch,
broker polling, claims, heartbeats, checkpoints, metric writes and final results are included.

Reference, like for like: the same work minus the queue. The same RunConfigs (read from runs
stored in a migrated SQLite store of the same kind, same engine settings: WAL, busy timeout) are
trained back to back in this process with the worker's torch thread count, and every metric is
recorded the way the worker records it: the worker's ``RunLink`` (buffered sink, background flush
and heartbeat thread, final flush) over ``SqlRunReporter``, i.e. the same metric service path with
its rollups, and the same flush settings. What the reference leaves out is what a queue adds:
the REST submission and dispatch, the broker, Celery's hand-off, the claim and finish
transactions and the worker's checkpoints (only needed to resume a run on another worker).
Throughput ratio = in-process seconds / queued seconds. Target: >= 0.95.

Also printed, for transparency: the same runs with a ``DiscardingSink`` (no metrics stored at
all, the reference before round 3).

Run length: ``--epochs 10`` by default (~180 digits steps, ~0.1-0.2 s per run on one core),
the run length of the shipped examples; ``--epochs 1`` (18 steps, ~20 ms) shows the fixed cost
per queued run, ``--epochs 100`` the per-step cost.

    python benchmarks/bench_queue.py [--seeds 3] [--epochs 10]
    python benchmarks/bench_queue.py --quick
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import AUTH, header, interleaved, parser, ratios, start_tricklab, stop_tricklab, verdict

if TYPE_CHECKING:
    from tricklab.schemas.run_config import RunConfig

TARGET = 0.95
BASE = {"epochs": 1, "depth": 2, "width": 32, "batch_size": 64, "eval_attack_steps": 5}


def spec(name: str, seeds: int, epochs: int = 1) -> dict[str, Any]:
    base = {**BASE, "epochs": epochs}
    return {"name": name, "task": "digits", "base": base, "factors": ["relu", "batch_norm"], "seeds": seeds}


def start_up(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``tricklab up`` (API, embedded broker, one supervised worker) on ``data_dir``, once healthy."""
    env = {**os.environ, "TRICKLAB_DATA_DIR": str(data_dir)}
    return start_tricklab(["up", "--data-dir", str(data_dir)], env=env, log_path=data_dir / "up.log", timeout=90)


def _epoch_seconds(stamp: str) -> float:
    moment = datetime.fromisoformat(stamp)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def queued_batch(base: str, body: dict[str, Any]) -> float:
    import httpx

    with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
        t0 = time.time()  # wall clock: compared with the server's finished_at (same machine)
        created = client.post("/api/v1/experiments", json=body)
        created.raise_for_status()
        experiment_id = created.json()["id"]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            exp = client.get(f"/api/v1/experiments/{experiment_id}").json()
            if exp["status"] == "finished":
                assert exp["counts"]["succeeded"] == exp["n_runs"], exp["counts"]
                return _epoch_seconds(exp["finished_at"]) - t0
            time.sleep(0.25)  # the end time comes from the store; polling only finds out
    raise TimeoutError(f"experiment {experiment_id} did not finish")


class _NoQueue:
    """A producer that sends nothing: the reference's runs are stored but never dispatched."""

    def send_task(self, name: str, args: list[Any] | None = None, **_: Any) -> None:
        return None


class InProcessStore:
    """A migrated SQLite store of the worker's kind, written through the worker's own metric path."""

    def __init__(self, data_dir: Path) -> None:
        from tricklab.config import Settings
        from tricklab.db.migrate import upgrade
        from tricklab.db.session import make_engine, make_session_factory
        from tricklab.services.reporting import SqlRunReporter

        self.settings = Settings(data_dir=data_dir, broker_url="memory://")
        upgrade(self.settings.resolved_database_url)
        self.session_factory = make_session_factory(make_engine(self.settings.resolved_database_url))
        self.reporter = SqlRunReporter(self.session_factory, settings=self.settings)

    def held_runs(self, body: dict[str, Any]) -> list[tuple[int, RunConfig]]:
        """Store the experiment's runs as held by attempt 1 (so metric writes are accepted); their configs."""
        from sqlalchemy import select, update
        from tricklab.db.models import Run
        from tricklab.schemas.run_config import RunConfig
        from tricklab.schemas.spec import ExperimentSpec
        from tricklab.services.experiments import create_experiment

        with self.session_factory() as db_session:
            created = create_experiment(
                db_session=db_session,
                spec=ExperimentSpec.model_validate(body),
                celery_app=_NoQueue(),
                public_url="http://bench",
            )
            db_session.execute(update(Run).where(Run.experiment_id == created.id).values(status="running", attempt=1))
            db_session.commit()
            rows = db_session.execute(
                select(Run.id, Run.config).where(Run.experiment_id == created.id).order_by(Run.id)
            ).all()
        return [(int(run_id), RunConfig.model_validate(config)) for run_id, config in rows]

    def batch(self, body: dict[str, Any]) -> float:
        """Seconds to train every run of ``body`` here, recording its metrics as the worker does."""
        from tricklab_worker.engine.run import train_run
        from tricklab_worker.run_link import RunLink

        runs = self.held_runs(body)
        settings = self.settings
        t0 = time.perf_counter()
        for run_id, config in runs:
            link = RunLink(
                reporter=self.reporter,
                run_id=run_id,
                attempt=1,
                flush_seconds=settings.metrics_flush_seconds,
                flush_points=settings.metrics_flush_points,
                heartbeat_seconds=settings.heartbeat_seconds,
            )
            with link:
                outcome = train_run(config, sink=link.sink, control=link, device="cpu")
            assert outcome.status == "succeeded", outcome
        return time.perf_counter() - t0


def discarding_batch(body: dict[str, Any]) -> float:
    """Seconds to train every run of ``body`` here with no metric stored at all."""
    from tricklab.design import run_configs
    from tricklab.schemas.spec import ExperimentSpec, resolve_spec
    from tricklab_worker.engine.run import train_run
    from tricklab_worker.runner import DiscardingSink, LocalControl

    configs = run_configs(resolve_spec(ExperimentSpec.model_validate(body)))
    t0 = time.perf_counter()
    for config in configs:
        outcome = train_run(config, sink=DiscardingSink(), control=LocalControl(), device="cpu")
        assert outcome.status == "succeeded", outcome
    return time.perf_counter() - t0


def main() -> None:
    import torch
    from tricklab_worker.runner import threads_for_share

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3, help="seeds per combination (4 combinations)")
    p.add_argument("--epochs", type=int, default=10, help="digits epochs per run (18 steps each; 10: ~0.15 s)")
    args = p.parse_args()
    seeds, repeats, epochs = (1, 1, 1) if args.quick else (args.seeds, args.repeats, args.epochs)
    n_runs = 4 * seeds
    torch.set_num_threads(threads_for_share(1))  # what the supervised worker's single process uses
    header(f"queue overhead, {n_runs} digits runs of {epochs} epoch(s) per batch", args.quick)
    counter = iter(range(10**6))
    with tempfile.TemporaryDirectory(prefix="tricklab-bench-queue-") as d:
        store = InProcessStore(Path(d) / "in-process")
        proc, base = start_up(Path(d))
        try:
            if not args.quick:  # first runs import torch and load the task, in the worker and here
                queued_batch(base, spec("warm-up", 1))
                store.batch(spec("warm-up", 1))
                discarding_batch(spec("warm-up", 1))
            result = interleaved(
                repeats,
                queued=lambda: queued_batch(base, spec(f"queued-{next(counter)}", seeds, epochs)),
                in_process=lambda: store.batch(spec(f"in-process-{next(counter)}", seeds, epochs)),
                discarding=lambda: discarding_batch(spec("discarding", seeds, epochs)),
            )
        finally:
            stop_tricklab(proc)
    ratio = ratios(result["in_process"], result["queued"])
    print(f"   through API + broker + worker:                 {result['queued'].fmt(' s')}")
    print(f"   back to back in one process, metrics stored:   {result['in_process'].fmt(' s')}")
    print(f"   back to back in one process, metrics discarded: {result['discarding'].fmt(' s')}")
    print(f"   throughput ratio queued/in-process: {ratio.fmt()}")
    print(f"   (queued/discarding: {ratios(result['discarding'], result['queued']).fmt()})")
    per_run = (result["queued"].median - result["in_process"].median) / n_runs
    print(f"   overhead per run (median difference / runs): {per_run * 1000:.0f} ms")
    verdict("queue overhead", ratio.median >= TARGET, f"median ratio {ratio.median:.3f} vs >= {TARGET}")


if __name__ == "__main__":
    main()
