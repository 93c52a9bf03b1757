"""One prepared GPU check: runs/hour of a digits experiment at worker concurrency 1, 2 and 4 on one GPU,
and the training-overhead ratio on CUDA; appends rows to benchmarks/RESULTS.md.

For a session that has a GPU machine. Each concurrency gets a fresh data dir with ``tricklab server``
and ``tricklab worker --gpu 0 --concurrency C`` (embedded SQLite broker), one experiment of
``--runs`` digits runs submitted over the API, timed from submit to the last run finished.
Sized to finish in about 5 minutes on an H100; ``--runs`` and ``--epochs`` scale it.

    python benchmarks/gpu_check.py [--runs 24 --epochs 4] [--results benchmarks/RESULTS.md] [--amp]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import AUTH, free_port, interleaved, ratios, wait_healthy
from bench_queue import queued_batch


def runs_per_hour(concurrency: int, n_runs: int, epochs: int, amp: bool) -> float:
    exe = str(Path(sys.executable).parent / "tricklab")
    with tempfile.TemporaryDirectory(prefix=f"tricklab-gpu-c{concurrency}-") as d:
        data = Path(d)
        env = {**os.environ, "TRICKLAB_DATA_DIR": str(data)}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server_log, worker_log = (data / "server.log").open("wb"), (data / "worker.log").open("wb")
        server = subprocess.Popen(
            [exe, "server", "--host", "127.0.0.1", "--port", str(port), "--migrate"],
            stdout=server_log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        worker_cmd = [exe, "worker", "--gpu", "0", "--concurrency", str(concurrency), *(["--amp"] if amp else [])]
        worker = subprocess.Popen(
            worker_cmd, stdout=worker_log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            wait_healthy(base, data / "server.log", timeout=120, proc=server)
            base_cfg = {"epochs": epochs, "batch_size": 64, "model": "cnn"}
            warm = {"name": "warm-up", "task": "digits", "base": {**base_cfg, "epochs": 1}, "factors": [], "seeds": 1}
            queued_batch(base, warm)
            seeds = max(1, n_runs // 4)
            body = {"name": f"c{concurrency}", "task": "digits", "base": base_cfg, "factors": ["relu", "batch_norm"]}
            seconds = queued_batch(base, {**body, "seeds": seeds})
            return 4 * seeds * 3600 / seconds
        finally:
            for proc in (worker, server):
                os.killpg(proc.pid, signal.SIGTERM)
            for proc in (worker, server):
                proc.wait(timeout=60)


def main() -> None:
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=24)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5, help="training-overhead repetitions")
    p.add_argument("--amp", action="store_true", help="also pass --amp (bf16 autocast) to the workers")
    p.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md")
    args = p.parse_args()
    assert torch.cuda.is_available(), "no CUDA device: run this on the GPU machine"
    card = torch.cuda.get_device_name(0)
    print(f"== GPU check on {card}; AUTH header set: {bool(AUTH)}")

    import bench_training as training

    result = interleaved(
        args.repeats,
        tricklab=lambda: training.tricklab_steps_per_s(2_000, "cuda", "wall"),
        bare=lambda: training.bare_steps_per_s(2_000, "cuda", "wall"),
    )
    ratio = ratios(result["tricklab"], result["bare"])
    print(f"   training overhead on CUDA: tricklab {result['tricklab'].fmt(' steps/s')}")
    print(f"                              bare     {result['bare'].fmt(' steps/s')}; ratio {ratio.fmt()}")
    rates = {c: runs_per_hour(c, args.runs, args.epochs, args.amp) for c in (1, 2, 4)}
    for c, rate in rates.items():
        print(f"   concurrency {c}: {rate:.0f} runs/hour ({rate / rates[1]:.2f}x of concurrency 1)")

    today = dt.date.today().isoformat()
    rows = [
        f"| GPU training overhead ({card}) | {ratio.fmt()} | `python benchmarks/gpu_check.py` | {today} |",
        *(
            f"| GPU runs/hour, digits CNN x{args.epochs} epochs, concurrency {c}{' bf16' if args.amp else ''} "
            f"({card}) | {rate:.0f} ({rate / rates[1]:.2f}x) | `python benchmarks/gpu_check.py` | {today} |"
            for c, rate in rates.items()
        ),
    ]
    with args.results.open("a") as f:
        f.write("\n<!-- gpu_check.py -->\n| measurement | result | command | date |\n|---|---|---|---|\n")
        f.write("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
