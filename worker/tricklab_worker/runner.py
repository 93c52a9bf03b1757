"""Running training on this machine: device and thread set-up, and whole experiments without a server.

``tricklab run`` uses ``run_experiment``: the same ``train_run`` the Celery workers
call, with final metrics collected in memory instead of streamed to a store.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tricklab.design import run_configs
from tricklab.schemas.run_config import RunConfig
from tricklab.schemas.spec import ExperimentSpec, resolve_spec

from tricklab_worker.engine import train_run
from tricklab_worker.engine.context import CheckpointStore, TrainOutcome

log = logging.getLogger(__name__)

THREADS_ENV = "TRICKLAB_WORKER_THREADS"


def threads_for_share(concurrency: int, cores: int | None = None) -> int:
    """Torch threads for one of ``concurrency`` training processes on this machine.

    One core is left to the API, the database and the broker: with two threads and
    a busy second core, training ran up to 40x slower than with one.
    """
    total = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, (total - 1) // max(1, concurrency))


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads from ``threads``, else TRICKLAB_WORKER_THREADS, else the share of one process."""
    if threads is None:
        from_env = os.environ.get(THREADS_ENV)
        threads = int(from_env) if from_env else threads_for_share(1)
    threads = max(1, threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def pick_device() -> str:
    """The GPU this process may see (``--gpu N`` pins CUDA_VISIBLE_DEVICES), else the CPU."""
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        return "cuda:0"
    return "cpu"


def is_cuda_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "CUDA out of memory" in str(exc)


def release_cuda_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def describe_error(exc: BaseException) -> str:
    """``TypeName: message``, the form a failed run's reason is stored in."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


class DiscardingSink:
    """A ``MetricSink`` for runs whose curves nobody reads (``tricklab run`` keeps final metrics only)."""

    def log(self, key: str, step: int, value: float) -> None:
        pass

    def log_many(self, key: str, steps: list[int], values: list[float]) -> None:
        pass


class LocalControl:
    """A ``RunControl`` for in-process runs: stop when asked (Ctrl-C), report progress to a callback.

    A run's control follows its experiment's (``parent``), so one Ctrl-C stops the current run.
    """

    def __init__(self, on_progress: Callable[[float], None] | None = None, parent: LocalControl | None = None) -> None:
        self.stop = False
        self._on_progress = on_progress
        self._parent = parent

    def should_stop(self) -> bool:
        return self.stop or (self._parent is not None and self._parent.should_stop())

    def set_progress(self, fraction: float) -> None:
        if self._on_progress is not None:
            self._on_progress(fraction)


@dataclass(frozen=True)
class LocalRunResult:
    config: RunConfig
    outcome: TrainOutcome

    def as_contract(self) -> dict[str, Any]:
        """One item of ``runs`` in the ``tricklab run`` JSON contract."""
        return {
            "tricks": sorted(self.config.tricks),
            "seed": self.config.seed,
            "status": self.outcome.status,
            "metrics": dict(self.outcome.final_metrics),
        }


ProgressCallback = Callable[[int, int, RunConfig, float, TrainOutcome | None], None]


def train_one(
    config: RunConfig, *, control: LocalControl, device: str, workdir: Path, amp: bool = False
) -> TrainOutcome:
    """Train one run in this process; an exception becomes a ``failed`` outcome, as on a worker."""
    checkpoint = CheckpointStore(directory=workdir)
    for try_number in (1, 2):
        try:
            return train_run(
                config, sink=DiscardingSink(), control=control, device=device, checkpoint=checkpoint, amp=amp
            )
        except Exception as exc:
            if is_cuda_oom(exc) and try_number == 1:
                release_cuda_memory()
                continue
            reason = describe_error(exc)
            if is_cuda_oom(exc):
                reason = f"CUDA out of memory (retried once): {reason}"
            log.debug("run failed", exc_info=True)
            return TrainOutcome(status="failed", error=reason)
    raise AssertionError("unreachable")


def run_experiment(
    spec: ExperimentSpec,
    *,
    on_progress: ProgressCallback | None = None,
    control: LocalControl | None = None,
    device: str | None = None,
    amp: bool = False,
) -> dict[str, Any]:
    """Expand ``spec`` and train every run here, one after another; return the ``tricklab run`` JSON object.

    Raises ``SpecError`` (naming each bad field) before anything trains.
    """
    resolved = resolve_spec(spec)
    configs = run_configs(resolved)
    device = device or pick_device()
    control = control or LocalControl()
    results: list[LocalRunResult] = []
    with tempfile.TemporaryDirectory(prefix="tricklab-run-") as tmp:
        for index, config in enumerate(configs):
            if control.should_stop():
                outcome = TrainOutcome(status="cancelled", error="interrupted")
                results.append(LocalRunResult(config, outcome))
                continue

            def report(fraction: float, index: int = index, config: RunConfig = config) -> None:
                if on_progress is not None:
                    on_progress(index, len(configs), config, fraction, None)

            run_control = LocalControl(on_progress=report, parent=control)
            workdir = Path(tmp) / f"run-{index}"
            workdir.mkdir()
            outcome = train_one(config, control=run_control, device=device, workdir=workdir, amp=amp)
            results.append(LocalRunResult(config, outcome))
            if on_progress is not None:
                on_progress(index, len(configs), config, 1.0, outcome)
    return {"spec": spec.model_dump(mode="json"), "runs": [r.as_contract() for r in results]}
