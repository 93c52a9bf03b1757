"""Queue overhead: a batch of short runs through Celery + worker vs the same runs back to back in one process.

Subject: ``tricklab up`` (API + embedded SQLite broker + one supervised worker, concurrency 1),
kept running across repetitions; each repetition submits one experiment over the REST API and
waits until every run finished: dispatch, broker polling, claims, heartbeats, metric writes and
final results included. Reference: the same RunConfigs trained back to back by the engine in this
process (``train_run`` with a discarding sink, the worker's torch thread count), no store, no queue.
Throughput ratio = in-process seconds / queued seconds. Target: >= 0.95.

    python benchmarks/bench_queue.py [--runs-per-batch 12]
    python benchmarks/bench_queue.py --quick
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import AUTH, header, interleaved, parser, ratios, verdict
from bench_page import _free_port

TARGET = 0.95
BASE = {"epochs": 1, "depth": 2, "width": 32, "batch_size": 64, "eval_attack_steps": 5}


def spec(name: str, seeds: int, epochs: int = 1) -> dict[str, Any]:
    base = {**BASE, "epochs": epochs}
    return {"name": name, "task": "digits", "base": base, "factors": ["relu", "batch_norm"], "seeds": seeds}


def start_up(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = _free_port()
    env = {**os.environ, "TRICKLAB_DATA_DIR": str(data_dir)}
    exe = Path(sys.executable).parent / "tricklab"
    log = (data_dir / "up.log").open("wb")
    proc = subprocess.Popen(
        [str(exe), "up", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError((data_dir / "up.log").read_text()[-3000:])


def queued_batch(base: str, body: dict[str, Any]) -> float:
    import httpx

    with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
        t0 = time.perf_counter()
        created = client.post("/api/v1/experiments", json=body)
        created.raise_for_status()
        experiment_id = created.json()["id"]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            exp = client.get(f"/api/v1/experiments/{experiment_id}").json()
            if exp["status"] == "finished":
                elapsed = time.perf_counter() - t0
                assert exp["counts"]["succeeded"] == exp["n_runs"], exp["counts"]
                return elapsed
            time.sleep(0.05)
    raise TimeoutError(f"experiment {experiment_id} did not finish")


def in_process_batch(body: dict[str, Any]) -> float:
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
    p.add_argument("--epochs", type=int, default=1, help="digits epochs per run (1: ~18 steps, well under 1 s)")
    args = p.parse_args()
    seeds, repeats = (1, 1) if args.quick else (args.seeds, args.repeats)
    torch.set_num_threads(threads_for_share(1))  # what the supervised worker's single process uses
    header(f"queue overhead, {4 * seeds} digits runs of {args.epochs} epoch(s) per batch", args.quick)
    counter = iter(range(10**6))
    with tempfile.TemporaryDirectory(prefix="tricklab-bench-queue-") as d:
        proc, base = start_up(Path(d))
        try:
            if not args.quick:  # first runs import torch and load the task, in the worker and here
                queued_batch(base, spec("warm-up", 1))
                in_process_batch(spec("warm-up", 1))
            result = interleaved(
                repeats,
                queued=lambda: queued_batch(base, spec(f"queued-{next(counter)}", seeds, args.epochs)),
                in_process=lambda: in_process_batch(spec("in-process", seeds, args.epochs)),
            )
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    ratio = ratios(result["in_process"], result["queued"])
    print(f"   through API + broker + worker: {result['queued'].fmt(' s')}")
    print(f"   back to back in one process:   {result['in_process'].fmt(' s')}")
    print(f"   throughput ratio queued/in-process: {ratio.fmt()}")
    per_run = (result["queued"].median - result["in_process"].median) / (4 * seeds)
    print(f"   overhead per run (median difference / runs): {per_run * 1000:.0f} ms")
    verdict("queue overhead", ratio.median >= TARGET, f"median ratio {ratio.median:.3f} vs >= {TARGET}")


if __name__ == "__main__":
    main()
