"""The commands of ``tricklab`` that train: ``worker`` and ``run``.

They load torch, so they live in the worker package. ``tricklab worker`` and
``tricklab run`` (backend/tricklab/cli) check their arguments and then exec
``python -m tricklab_worker.cli ...``: the rest of the CLI, like the API server,
never imports torch or this package.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from tricklab.cli.run_cmd import add_run_arguments
from tricklab.cli.serve_cmds import add_worker_arguments
from tricklab.cli.specfile import SpecFileError, load_resolved_spec
from tricklab.config import get_settings

if TYPE_CHECKING:
    from tricklab.schemas.run_config import RunConfig

    from tricklab_worker.engine.context import TrainOutcome


GPU_PROBE = "import torch; print(torch.cuda.device_count(), torch.version.cuda)"


def gpu_problem(gpu: int) -> str | None:
    """Why a worker pinned to GPU ``gpu`` would see no GPU, or None when it sees exactly that one.

    Asked in a child process: initialising CUDA here, before Celery forks its pool, would leave every
    pool child unable to use the GPU. Without this check a worker whose GPU is missing trains on the CPU.
    """
    if gpu < 0:
        return "a GPU index is 0 or more"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(gpu)}
    probe = subprocess.run([sys.executable, "-c", GPU_PROBE], env=env, capture_output=True, text=True, check=False)
    answer = probe.stdout.strip().splitlines()[-1:]
    if probe.returncode != 0 or len(answer[0].split() if answer else []) != 2:
        last_error = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return f"could not ask torch for GPUs: {last_error}"
    count, cuda = answer[0].split()
    if cuda == "None":
        return "this torch build has no CUDA support (install a CUDA build of torch on GPU machines)"
    if int(count) != 1:
        return "no GPU with that index is visible to this process (`nvidia-smi -L` lists this machine's GPUs)"
    return None


def start_worker(args: argparse.Namespace) -> int:
    """A Celery worker that trains runs, pinned to one GPU when ``--gpu`` is given."""
    # Both must be in the environment before torch loads (CUDA_VISIBLE_DEVICES is read
    # once, at CUDA initialisation), so the torch-importing modules load below.
    if args.gpu is not None:
        problem = gpu_problem(args.gpu)
        if problem is not None:
            print(f"tricklab worker: --gpu {args.gpu}: {problem}", file=sys.stderr)
            return 2
        os.environ["CUDA_VISIBLE_DEVICES"] = str(args.gpu)
    if args.amp:
        os.environ["TRICKLAB_WORKER_AMP"] = "1"
    if args.api_url:
        # Remote worker: report through the REST API with TRICKLAB_TOKEN; no database access needed.
        os.environ["TRICKLAB_WORKER_API_URL"] = args.api_url
    get_settings.cache_clear()
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from tricklab_worker.runner import THREADS_ENV, threads_for_share

    threads = args.threads or int(os.environ.get(THREADS_ENV) or threads_for_share(args.concurrency))
    os.environ[THREADS_ENV] = str(threads)
    from tricklab_worker.celery_app import app

    where = f"gpu{args.gpu}" if args.gpu is not None else "cpu"
    argv = [
        "worker",
        f"--loglevel={args.loglevel}",
        f"--concurrency={args.concurrency}",
        # Prefetch 1 by default: a busy worker holding a queued run would keep it from an idle one.
        f"--prefetch-multiplier={max(1, args.prefetch or 1)}",
        f"--queues={settings.queue_name}",
        f"--hostname=tricklab-{where}-{os.getpid()}@%h",
        # The lease in SQL tracks liveness; Celery's own gossip and event heartbeats
        # only add broker traffic (and the embedded broker has no fanout for them).
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    app.worker_main(argv=argv)
    return 0


def run_spec(args: argparse.Namespace) -> int:
    """A whole experiment on this machine, no server; writes the results contract as JSON."""
    from tricklab_worker.runner import LocalControl, configure_threads, run_experiment

    try:
        resolved = load_resolved_spec(Path(args.spec))
    except SpecFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        configure_threads(args.threads)
    control = LocalControl()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if control.stop:
            raise KeyboardInterrupt
        print("\nstopping after the current step (Ctrl-C again to abort)", file=sys.stderr)
        control.stop = True

    previous = signal.signal(signal.SIGINT, interrupt)
    started = time.monotonic()
    last_line = [0.0]

    def on_progress(index: int, total: int, config: RunConfig, fraction: float, outcome: TrainOutcome | None) -> None:
        label = f"[{index + 1}/{total}] {config.combo_key} seed {config.seed}"
        if outcome is not None:
            metric = outcome.final_metrics.get(config.metric)
            value = f" {config.metric}={metric:.4f}" if metric is not None else ""
            error = f" ({outcome.error})" if outcome.error else ""
            print(f"{label}: {outcome.status}{value}{error}", file=sys.stderr)
        elif time.monotonic() - last_line[0] > 2.0 and sys.stderr.isatty():
            last_line[0] = time.monotonic()
            print(f"{label}: {fraction:.0%}", end="\r", file=sys.stderr)

    try:
        result = run_experiment(resolved.spec, on_progress=on_progress, control=control, device=args.device)
    finally:
        signal.signal(signal.SIGINT, previous)
    text = json.dumps(result, indent=2, allow_nan=True)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    statuses = [r["status"] for r in result["runs"]]
    summary = ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))
    where = f"; wrote {args.out}" if args.out else ""
    print(f"done in {time.monotonic() - started:.1f} s: {summary}{where}", file=sys.stderr)
    return 0 if all(s in ("succeeded", "diverged") for s in statuses) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tricklab")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_worker_arguments(sub.add_parser("worker")).set_defaults(func=start_worker)
    add_run_arguments(sub.add_parser("run")).set_defaults(func=run_spec)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
