"""Training overhead: steps/s of a tricklab run with every step's metrics streamed, vs a bare PyTorch loop.

Both train the same digits MLP (64-128-128-10, batch 64, SGD, label smoothing, dropout; built by
the engine from the same RunConfig and seed) on the same device-resident data for the same steps.
Subject: ``train_classification`` with ``log_every=1`` (train_loss and lr every step; grad_norm
every ``grad_norm_every`` steps: 10, the default, or ``--grad-norm-every``) into the worker's own
``RunLink`` with the worker's default settings (its background thread takes the buffered points
every ``metrics_flush_seconds`` and heartbeats every ``heartbeat_seconds``); its reporter counts
the points and drops them instead of writing them, so no database is measured. Reference:
a plain loop (index a batch, forward, loss, backward, step), no tracking. Both stop timing at the
last training step (final test metrics are not part of either). Target: tricklab/bare >= 0.98.

    python benchmarks/bench_training.py [--device cuda] [--steps 2000] [--threads 1]
    python benchmarks/bench_training.py --quick
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, interleaved, parser, ratios, verdict

TARGET = 0.98


def config(steps: int, grad_norm_every: int = 10) -> Any:
    from tricklab.schemas.run_config import RunConfig

    base = {
        "epochs": 10_000,
        "max_steps": steps,
        "batch_size": 64,
        "lr": 0.05,
        "optimizer": "sgd",
        "model": "mlp",
        "depth": 3,
        "width": 128,
        "log_every": 1,
        "grad_norm_every": grad_norm_every,
        "eval_every": steps,  # one evaluation, at the last step, in both loops
    }
    tricks = {"label_smoothing": {"epsilon": 0.1}, "dropout": {"p": 0.1}}
    return RunConfig(task="digits", base=base, tricks=tricks, seed=0)


def prepare(steps: int, device: str, grad_norm_every: int = 10) -> Any:
    import torch
    from tricklab_worker.engine.run import prepare_classification
    from tricklab_worker.engine.tasks import load_task, task_info

    cfg = config(steps, grad_norm_every)
    info = task_info(cfg.task)
    return prepare_classification(cfg, load_task(info), torch.device(device), task_input=info.input)  # type: ignore[arg-type]


class _LastStep:
    """RunControl that notes when the loop reports full progress (before final metrics start)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.done_at: float | None = None

    def should_stop(self) -> bool:
        return False

    def set_progress(self, fraction: float) -> None:
        if fraction >= 1.0 and self.done_at is None:
            self.done_at = self.clock()


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _clock(name: str) -> Any:
    # thread_time: CPU seconds of the training thread only, so time spent descheduled by other
    # processes on the shared cores is not charged to either loop; perf_counter: wall time.
    return time.thread_time if name == "cpu" else time.perf_counter


class _CountingReporter:
    """The ``RunReporter`` calls a RunLink makes while a run trains, minus the database: points are counted."""

    def __init__(self) -> None:
        self.points = 0

    def log_metrics(self, *, run_id: int, attempt: int, points: Sequence[Any]) -> None:
        self.points += len(points)

    def heartbeat(self, *, run_id: int, attempt: int, progress: float) -> bool:
        return True


def tricklab_steps_per_s(steps: int, device: str, clock_name: str = "cpu", grad_norm_every: int = 10) -> float:
    from tricklab.config import Settings
    from tricklab_worker.engine.classification import train_classification
    from tricklab_worker.run_link import RunLink

    run = prepare(steps, device, grad_norm_every)
    defaults = Settings()
    reporter = _CountingReporter()
    link = RunLink(
        reporter=reporter,  # type: ignore[arg-type]
        run_id=0,
        attempt=1,
        flush_seconds=defaults.metrics_flush_seconds,
        flush_points=defaults.metrics_flush_points,
        heartbeat_seconds=defaults.heartbeat_seconds,
    )
    clock = _clock(clock_name)
    control = _LastStep(clock)
    with link:  # the flush and heartbeat thread runs while the loop trains, as in the worker
        _sync(device)
        t0 = clock()
        outcome = train_classification(run, sink=link.sink, control=control, checkpoint=None)
    assert outcome.status == "succeeded" and control.done_at is not None, outcome
    expected = 2 * steps + steps // grad_norm_every
    got = reporter.points
    assert got >= expected, f"expected every step's loss and lr, and the grad norms; got {got} points"
    return float(steps / (control.done_at - t0))


def bare_steps_per_s(steps: int, device: str, clock_name: str = "cpu") -> float:
    import torch
    import torch.nn.functional as F

    run = prepare(steps, device)
    model, data = run.model, run.data
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=run.base.get_float("momentum", 0.9))
    n = data.train_targets.shape[0]
    shuffle = torch.Generator().manual_seed(0)
    perm, pos = torch.randperm(n, generator=shuffle).to(run.device), 0
    model.train()
    clock = _clock(clock_name)
    _sync(device)
    t0 = clock()
    for _ in range(steps):
        if pos + 64 > n:
            perm, pos = torch.randperm(n, generator=shuffle).to(run.device), 0
        index = perm[pos : pos + 64]
        pos += 64
        loss = F.cross_entropy(model(data.train_inputs[index]), data.train_targets[index], label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    model.eval()
    with torch.no_grad():
        val = F.cross_entropy(model(data.val_inputs), data.val_targets)
    model.train()
    assert torch.isfinite(val).item()  # the one host sync, at the end
    return float(steps / (clock() - t0))


def main() -> None:
    import torch

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2_000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the worker's default share)")
    p.add_argument("--grad-norm-every", type=int, default=10, help="the run's grad_norm_every (1: every step)")
    p.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="cpu: training thread's CPU time")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    steps, repeats = (60, 1) if args.quick else (args.steps, args.repeats)
    header(
        f"training overhead, digits MLP, {steps} steps on {args.device}, {args.threads} thread(s), {args.clock} clock",
        args.quick,
    )
    if not args.quick:
        # Not recorded: the first optimizer built in a process imports torch._dynamo (~1 s), once.
        tricklab_steps_per_s(100, args.device, args.clock, args.grad_norm_every)
        bare_steps_per_s(100, args.device, args.clock)
    result = interleaved(
        repeats,
        tricklab=lambda: tricklab_steps_per_s(steps, args.device, args.clock, args.grad_norm_every),
        bare=lambda: bare_steps_per_s(steps, args.device, args.clock),
    )
    ratio = ratios(result["tricklab"], result["bare"])
    print(f"   tricklab engine (grad_norm every {args.grad_norm_every}): {result['tricklab'].fmt(' steps/s')}")
    print(f"   bare PyTorch loop:                   {result['bare'].fmt(' steps/s')}")
    print(f"   ratio tricklab/bare:                 {ratio.fmt()}")
    verdict("training overhead", ratio.median >= TARGET, f"median ratio {ratio.median:.3f} vs >= {TARGET}")


if __name__ == "__main__":
    main()
