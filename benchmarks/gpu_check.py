"""One prepared GPU check: the CUDA path (device selection, bf16 autocast, workers pinned to a GPU) and its timings.

For a session that has a GPU machine; every figure is measured side by side in this one run.

1. Device selection: ``pick_device`` in a process pinned with ``CUDA_VISIBLE_DEVICES=0`` picks ``cuda:0`` and
   turns on ``cudnn.benchmark``; with no GPU visible it picks the CPU.
2. bf16 autocast: the same digits CNN runs trained in fp32 and under ``--amp``; test accuracy and seconds.
3. Training overhead on the GPU: tricklab's loop against a bare PyTorch loop (``bench_training``), wall clock.
4. Runs/hour of a digits experiment through ``tricklab server`` + ``tricklab worker --gpu 0 --concurrency C``
   (embedded SQLite broker) at C = 1, 2, 4, and 4 under ``--amp``; for each, which worker processes hold a CUDA
   context (``nvidia-smi``) and the ``CUDA_VISIBLE_DEVICES`` each of them sees.

    python benchmarks/gpu_check.py [--runs 32 --epochs 20] [--results benchmarks/RESULTS.md]
    python benchmarks/gpu_check.py --quick --device cpu   # smoke test of the script on a machine without a GPU
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import free_port, interleaved, ratios, wait_healthy
from bench_queue import queued_batch

TRICKLAB = [sys.executable, "-m", "tricklab.cli.main"]


def check_device_selection(gpu: bool) -> list[str]:
    """What ``pick_device`` answers in a fresh process, pinned to GPU 0 and with no GPU visible."""
    probe = (
        "import json, torch; from tricklab_worker.runner import pick_device; d = pick_device(); "
        "print(json.dumps([d, torch.backends.cudnn.benchmark, torch.cuda.device_count()]))"
    )
    lines, failures = [], []
    cases = (("0", ["cuda:0", True, 1]), ("", ["cpu", False, 0])) if gpu else (("", ["cpu", False, 0]),)
    for visible, expected in cases:
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": visible}
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
        got = json.loads(out.stdout.strip().splitlines()[-1])
        ok = got == expected
        verdict = "ok" if ok else "FAIL"
        lines.append(f"CUDA_VISIBLE_DEVICES={visible!r}: device, cudnn.benchmark, device_count = {got} {verdict}")
        if not ok:
            failures.append(visible)
    if failures:
        raise SystemExit("device selection check failed:\n" + "\n".join(lines))
    return lines


def check_amp(device: str, epochs: int, seeds: int) -> dict[str, Any]:
    """Train the same digits CNN runs in fp32 and under bf16 autocast, here; accuracies and seconds of each."""
    from tricklab.schemas.spec import ExperimentSpec
    from tricklab_worker.runner import run_experiment

    spec = ExperimentSpec(
        name="amp-check",
        task="digits",
        base={"epochs": epochs, "batch_size": 64, "model": "cnn"},
        factors=["batch_norm"],
        seeds=seeds,
    )
    run_experiment(spec.model_copy(update={"seeds": 1}), device=device)  # warm-up: CUDA context, cudnn autotune
    out: dict[str, Any] = {}
    for label, amp in (("fp32", False), ("bf16", True)):
        t0 = time.perf_counter()
        result = run_experiment(spec, device=device, amp=amp)
        seconds = time.perf_counter() - t0
        statuses = {r["status"] for r in result["runs"]}
        if statuses != {"succeeded"}:
            raise SystemExit(f"amp check: {label} runs ended {statuses}: {result['runs']}")
        accuracies = [r["metrics"]["test_accuracy"] for r in result["runs"]]
        out[label] = {"seconds": seconds, "accuracies": accuracies, "mean": statistics.fmean(accuracies)}
    gap = out["bf16"]["mean"] - out["fp32"]["mean"]
    out["gap"] = gap
    if abs(gap) > 0.05:
        raise SystemExit(f"amp check: bf16 mean test accuracy differs from fp32 by {gap:+.3f}: {out}")
    return out


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (read from /proc, so no third-party package is needed)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def gpu_processes() -> dict[int, str]:
    """Pid -> index of the GPU it holds a CUDA context on, as nvidia-smi lists them (empty without nvidia-smi).

    Asked of the driver, not read from /proc/PID/environ: that shows the environment at exec, and the
    worker sets CUDA_VISIBLE_DEVICES after exec (``--gpu N``), so only the driver knows where each child landed.
    """

    def query(what: str) -> list[list[str]]:
        out = subprocess.run(
            ["nvidia-smi", f"--query-{what}", "--format=csv,noheader"], capture_output=True, text=True, check=True
        ).stdout
        return [[cell.strip() for cell in line.split(",")] for line in out.splitlines() if line.strip()]

    try:
        index_of = {uuid: index for index, uuid in query("gpu=index,uuid")}
        return {int(pid): index_of.get(uuid, uuid) for pid, uuid in query("compute-apps=pid,gpu_uuid")}
    except (OSError, subprocess.CalledProcessError, ValueError):
        return {}


def runs_per_hour(concurrency: int, n_runs: int, epochs: int, amp: bool, gpu: bool) -> tuple[float, str]:
    """Runs/hour of one digits experiment through a fresh server and worker; and where the worker's runs trained."""
    with tempfile.TemporaryDirectory(prefix=f"tricklab-gpu-c{concurrency}-") as d:
        data = Path(d)
        env = {**os.environ, "TRICKLAB_DATA_DIR": str(data)}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server_log, worker_log = (data / "server.log").open("wb"), (data / "worker.log").open("wb")
        server = subprocess.Popen(
            [*TRICKLAB, "server", "--host", "127.0.0.1", "--port", str(port), "--migrate"],
            stdout=server_log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        worker_cmd = [*TRICKLAB, "worker", "--concurrency", str(concurrency)]
        worker_cmd += [*(["--gpu", "0"] if gpu else []), *(["--amp"] if amp else [])]
        worker = subprocess.Popen(
            worker_cmd, stdout=worker_log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            wait_healthy(base, data / "server.log", timeout=120, proc=server)
            base_cfg = {"epochs": epochs, "batch_size": 64, "model": "cnn"}
            # One warm-up run per process: each pays its CUDA context and cudnn autotuning before the clock starts.
            warm = {"name": "warm-up", "task": "digits", "base": {**base_cfg, "epochs": 1}, "factors": []}
            queued_batch(base, {**warm, "seeds": concurrency})
            seeds = max(1, n_runs // 4)
            body = {"name": f"c{concurrency}", "task": "digits", "base": base_cfg, "factors": ["relu", "batch_norm"]}
            seconds = queued_batch(base, {**body, "seeds": seeds})
            contexts = gpu_processes()
            on_gpu = {pid: contexts[pid] for pid in _descendants(worker.pid) if pid in contexts}
            names = sorted(set(re.findall(r"(tricklab-(?:gpu\d+|cpu))-\d+@", (data / "worker.log").read_text())))
            gpus = sorted(set(on_gpu.values()))
            where = f"worker {names}: {len(on_gpu)} processes hold a CUDA context, on GPU {gpus}"
            return 4 * seeds * 3600 / seconds, where
        except BaseException:
            sys.stderr.write((data / "worker.log").read_text(errors="replace")[-4000:])
            raise
        finally:
            stop(worker, server)
            server_log.close()
            worker_log.close()


def stop(*procs: subprocess.Popen[bytes]) -> None:
    """SIGTERM to each main process, then SIGKILL to its group.

    Not SIGTERM to the group: a Celery pool child killed directly can die holding the pool's queue lock,
    and its parent then waits on that lock for ever (see cli/supervisor.py).
    """
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def main() -> None:
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=32, help="runs per concurrency (rounded to whole seeds of 4 combos)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=7, help="training-overhead repetitions")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: smoke-test this script")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the script runs, measures nothing")
    p.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md")
    args = p.parse_args()
    gpu = args.device == "cuda"
    if gpu and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this on the GPU machine (or pass --device cpu for a smoke test)")
    if args.quick:
        args.runs, args.epochs, args.repeats = 4, 1, 1
    card = torch.cuda.get_device_name(0) if gpu else "CPU"
    print(f"== GPU check on {card}; torch {torch.__version__}", flush=True)

    print("-- device selection", flush=True)
    for line in check_device_selection(gpu):
        print(f"   {line}", flush=True)

    print("-- bf16 autocast against fp32 (digits CNN + batch norm, trained in this process)", flush=True)
    amp = check_amp("cuda:0" if gpu else "cpu", epochs=args.epochs, seeds=2 if args.quick else 4)
    for label in ("fp32", "bf16"):
        acc = ", ".join(f"{a:.3f}" for a in amp[label]["accuracies"])
        print(f"   {label}: {amp[label]['seconds']:.2f} s, test accuracy {acc}", flush=True)
    print(f"   bf16 - fp32 mean test accuracy: {amp['gap']:+.3f}", flush=True)

    import bench_training as training

    steps = 200 if args.quick else 2_000
    device = "cuda" if gpu else "cpu"
    result = interleaved(
        args.repeats,
        tricklab=lambda: training.tricklab_steps_per_s(steps, device, "wall"),
        bare=lambda: training.bare_steps_per_s(steps, device, "wall"),
    )
    overhead = ratios(result["tricklab"], result["bare"])
    print(f"-- training overhead on {device} (digits MLP, {steps} steps, wall clock)", flush=True)
    print(f"   tricklab {result['tricklab'].fmt(' steps/s')}", flush=True)
    print(f"   bare     {result['bare'].fmt(' steps/s')}; ratio {overhead.fmt()}", flush=True)

    print(f"-- runs/hour, digits CNN x {args.epochs} epochs, {args.runs} runs per setting", flush=True)
    settings = [(1, False), (2, False), (4, False), (4, True)]
    rates: dict[tuple[int, bool], float] = {}
    for concurrency, use_amp in settings:
        rate, where = runs_per_hour(concurrency, args.runs, args.epochs, use_amp, gpu)
        rates[(concurrency, use_amp)] = rate
        label = f"concurrency {concurrency}{' bf16' if use_amp else ''}"
        gain = rate / rates[(1, False)]
        print(f"   {label}: {rate:.0f} runs/hour ({gain:.2f}x of concurrency 1); {where}", flush=True)

    today = dt.date.today().isoformat()
    command = "`python benchmarks/gpu_check.py`"
    rows = [
        f"| training overhead, digits MLP, wall clock ({card}) | {overhead.fmt()} | {command} | {today} |",
        f"| bf16 autocast vs fp32, digits CNN x {args.epochs} epochs, {len(amp['fp32']['accuracies'])} runs each, "
        f"in-process ({card}) "
        f"| {amp['fp32']['seconds']:.2f} s vs {amp['bf16']['seconds']:.2f} s; mean test accuracy "
        f"{amp['fp32']['mean']:.3f} vs {amp['bf16']['mean']:.3f} | {command} | {today} |",
        *(
            f"| runs/hour, digits CNN x {args.epochs} epochs, concurrency {c}{' bf16' if a else ''} ({card}) "
            f"| {rate:.0f} ({rate / rates[(1, False)]:.2f}x) | {command} | {today} |"
            for (c, a), rate in rates.items()
        ),
    ]
    with args.results.open("a") as f:
        f.write("\n<!-- gpu_check.py -->\n| measurement | result | command | date |\n|---|---|---|---|\n")
        f.write("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
