"""``tricklab run exp.yaml --out results.json``: a whole experiment on this machine, no server.

Writes the stable contract scripts rely on:
``{"spec": {...}, "runs": [{"tricks": [...], "seed": 0, "status": "succeeded", "metrics": {...}}, ...]}``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from tricklab.cli.specfile import SpecFileError, load_resolved_spec
from tricklab.design import run_configs

if TYPE_CHECKING:
    from tricklab_worker.engine.context import TrainOutcome

    from tricklab.schemas.run_config import RunConfig


def cmd_run(args: argparse.Namespace) -> int:
    try:
        resolved = load_resolved_spec(Path(args.spec))
    except SpecFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n_runs = len(run_configs(resolved))
    print(f"{resolved.spec.name}: {n_runs} runs on task {resolved.task.name}", file=sys.stderr)

    # The engine (and torch) load only here, after the spec is known to be good:
    # the rest of the CLI, and the API server, must stay torch-free.
    from tricklab_worker.runner import LocalControl, configure_threads, run_experiment

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


def add_run_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run an experiment here, without a server, and write its results as JSON")
    p.add_argument("spec", help="path to the experiment spec (YAML or JSON)")
    p.add_argument("--out", help="write the results JSON here (default: stdout)")
    p.add_argument("--device", default=None, help="torch device (default: the GPU if there is one, else cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    p.set_defaults(func=cmd_run)
