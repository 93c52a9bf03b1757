"""Instruction counts: the training loop's and the worker's lease path's cost, free of timing noise.

On a shared virtual machine the same work can take twice as long from one tenth of a second to
the next (``host steadiness`` in every script's header), so wall-clock medians of 2-5% effects move
between runs (bench_training, bench_queue). Instructions executed do not: each workload runs in a
fresh interpreter under valgrind's callgrind at two sizes, and the difference of the two totals
divided by the difference of the sizes is its cost per unit (start-up, imports and warm-up cancel).
It counts work, not time: cache misses and waits are not in it, so it complements the timed
benchmarks and does not replace them. Under valgrind a run takes ~50x longer, so the triggers that
follow the clock (the engine's and the RunLink's metric flushes every 2 s, heartbeats) would fire
~50x more often than natively: the counted interpreters switch them off, and the step and point
counts that trigger flushes natively (every 200 steps, every 5,000 points) stay as they are.

- ``training``: instructions per step of ``train_classification`` exactly as bench_training runs
  it (train_loss and lr every step, grad_norm every 10th, the worker's RunLink) against the bare
  PyTorch loop. Target, as bench_training's: bare/tricklab >= 0.98.
- ``lease``: instructions per batch of 12 one-epoch digits runs trained through the worker's own
  ``LeaseChain`` and ``execute_bundle`` on a SQLite store (every claim and finish-and-claim
  transaction), against bench_queue's in-process reference (the same runs back to back, metrics
  stored the same way): what the lease path costs a run, without the REST submission and Celery.

    python benchmarks/bench_instructions.py [--only training|lease] [--steps 100 600] [--batches 1 3]
    python benchmarks/bench_instructions.py --quick   # each workload once, without valgrind
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, parser, verdict

TARGET = 0.98


def train_steps(which: str, steps: int) -> None:
    """``steps`` steps of the tricklab or bare loop, after one short warm-up run of each."""
    import torch
    from bench_training import bare_steps_per_s, tricklab_steps_per_s

    torch.set_num_threads(1)
    tricklab_steps_per_s(20, "cpu")  # the first optimizer built imports torch._dynamo, once
    bare_steps_per_s(20, "cpu")
    if which == "tricklab":
        tricklab_steps_per_s(steps, "cpu")
    else:
        bare_steps_per_s(steps, "cpu")


def lease_batches(which: str, batches: int) -> None:
    """``batches`` batches of 12 one-epoch runs: through the worker's lease chain, or bench_queue's reference."""
    import torch
    from bench_queue import InProcessStore, _NoQueue, spec
    from sqlalchemy import select
    from tricklab.db.models import Run
    from tricklab.schemas.spec import ExperimentSpec
    from tricklab.services.experiments import create_experiment
    from tricklab_worker.bundles import RunTimes, execute_bundle
    from tricklab_worker.tasks import LeaseChain

    torch.set_num_threads(1)
    names = iter(range(10**6))
    with tempfile.TemporaryDirectory(prefix="tricklab-bench-instructions-") as d:
        store = InProcessStore(Path(d))
        run_times = RunTimes()

        def through_chain() -> None:
            with store.session_factory() as db_session:
                created = create_experiment(
                    db_session=db_session,
                    spec=ExperimentSpec.model_validate(spec(f"chain-{next(names)}", 3)),
                    celery_app=_NoQueue(),
                    public_url="http://bench",
                )
                run_ids = db_session.scalars(select(Run.id).where(Run.experiment_id == created.id).order_by(Run.id))
                runs = [(int(run_id), 1) for run_id in run_ids]
            chain = LeaseChain(reporter=store.reporter, settings=store.settings, worker_id="bench:1")
            run_times.record(created.id, 0.02)  # known to be short: the worker keeps the whole bundle
            outcomes = execute_bundle(
                experiment_id=created.id,
                runs=runs,
                # Under valgrind a run takes seconds: no bundle may run "over time" and send runs on.
                bundle_seconds=1e9,
                run_times=run_times,
                train=chain.train,
                send_on=lambda rest: None,
                still_claimable=chain.still_claimable,
            )
            assert outcomes == ["succeeded"] * len(runs), outcomes

        def in_process() -> None:
            store.batch(spec(f"reference-{next(names)}", 3))

        batch = through_chain if which == "chain" else in_process
        batch()  # warm-up: first imports and task load
        for _ in range(batches):
            batch()


# Read by Settings() in the child: no flush or heartbeat by the clock (see the module docstring).
_NO_CLOCK_TRIGGERS = {"TRICKLAB_METRICS_FLUSH_SECONDS": "1e9", "TRICKLAB_HEARTBEAT_SECONDS": "1e9"}


def _switch_off_clock_triggers() -> None:
    from tricklab_worker.engine import classification

    classification.FLUSH_SECONDS = float("inf")


def count(workload: str, which: str, size: int) -> int:
    """Instructions callgrind counted for one child interpreter running ``workload`` at ``size``."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            workload,
            which,
            str(size),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **_NO_CLOCK_TRIGGERS},
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{workload} {which} {size} failed under valgrind:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def per_unit(workload: str, which: str, sizes: tuple[int, int]) -> float:
    small, large = sizes
    return (count(workload, which, large) - count(workload, which, small)) / (large - small)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--only", choices=["training", "lease"], help="count one workload only")
    p.add_argument("--steps", type=int, nargs=2, default=(100, 600), help="the two training sizes (steps)")
    p.add_argument("--batches", type=int, nargs=2, default=(1, 3), help="the two lease sizes (12-run batches)")
    p.add_argument("--child", nargs=3, metavar=("WORKLOAD", "WHICH", "SIZE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        workload, which, size = args.child
        _switch_off_clock_triggers()
        (train_steps if workload == "training" else lease_batches)(which, int(size))
        return
    header("instruction counts (valgrind callgrind): training loop and lease path", args.quick)
    if args.quick:
        # No valgrind in the smoke test (minutes): each workload once, natively, which checks it still runs.
        for which in ("tricklab", "bare"):
            train_steps(which, 30)
        for which in ("chain", "reference"):
            lease_batches(which, 1)
        print("   every workload ran; training overhead in instructions: target (>= 0.98) not counted in --quick")
        return
    if shutil.which("valgrind") is None:
        sys.exit("bench_instructions: valgrind not found (Debian: apt-get install valgrind)")
    result: dict[str, Any] = {}
    if args.only in (None, "training"):
        tricklab = per_unit("training", "tricklab", args.steps)
        bare = per_unit("training", "bare", args.steps)
        result["training"] = bare / tricklab
        print(f"   tricklab engine, instructions per step: {tricklab:,.0f}")
        print(f"   bare PyTorch loop, instructions per step: {bare:,.0f}")
        print(f"   ratio bare/tricklab: {bare / tricklab:.4f} (tricklab runs {tricklab / bare - 1:+.2%} more)")
    if args.only in (None, "lease"):
        chain = per_unit("lease", "chain", args.batches)
        reference = per_unit("lease", "reference", args.batches)
        print(f"   12 runs through the worker's lease chain, instructions per batch: {chain:,.0f}")
        print(f"   the same runs in-process (bench_queue's reference): {reference:,.0f}")
        print(
            f"   lease path: {(chain - reference) / 12:,.0f} instructions per run, "
            f"{chain / reference - 1:+.2%} of the batch; ratio reference/chain {reference / chain:.4f}"
        )
    if "training" in result:
        ratio = result["training"]
        verdict("training overhead in instructions", ratio >= TARGET, f"ratio {ratio:.4f} vs >= {TARGET}")
    else:
        print("   (no target for the lease path alone: the queue's target is bench_queue's wall-clock ratio)")


if __name__ == "__main__":
    main()
