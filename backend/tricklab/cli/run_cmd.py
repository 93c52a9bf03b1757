"""``tricklab run exp.yaml --out results.json``: a whole experiment on this machine, no server.

Writes the stable contract scripts rely on:
``{"spec": {...}, "runs": [{"tricks": [...], "seed": 0, "status": "succeeded", "metrics": {...}}, ...]}``.
The spec is checked here (a bad one exits 2 at once, without loading torch); the
training itself runs in ``tricklab_worker.cli``, which this process becomes by exec.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tricklab.cli.specfile import SpecFileError, load_resolved_spec
from tricklab.design import run_configs

WORKER_CLI = "tricklab_worker.cli"


def exec_worker_cli(argv: list[str]) -> int:
    """Become ``python -m tricklab_worker.cli ARGV`` (same pid, so signals reach the training process)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", WORKER_CLI, *argv])


def cmd_run(args: argparse.Namespace) -> int:
    try:
        resolved = load_resolved_spec(Path(args.spec))
    except SpecFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n_runs = len(run_configs(resolved))
    print(f"{resolved.spec.name}: {n_runs} runs on task {resolved.task.name}", file=sys.stderr)
    argv = ["run", args.spec]
    for flag, value in (("--out", args.out), ("--device", args.device), ("--threads", args.threads)):
        if value is not None:
            argv += [flag, str(value)]
    return exec_worker_cli(argv)


def add_run_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of ``tricklab run`` (shared with the worker-side command that trains)."""
    p.add_argument("spec", help="path to the experiment spec (YAML or JSON)")
    p.add_argument("--out", help="write the results JSON here (default: stdout)")
    p.add_argument("--device", default=None, help="torch device (default: the GPU if there is one, else cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    return p


def add_run_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run an experiment here, without a server, and write its results as JSON")
    add_run_arguments(p).set_defaults(func=cmd_run)
