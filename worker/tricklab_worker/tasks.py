"""The Celery tasks: take a run's lease, train it, report how it ended; or a bundle of them.

Thin on purpose (Celery's task guide): a message carries only ids, (run_id, attempt) or
(experiment_id, [(run_id, attempt), ...]) for a bundle (see ``bundles.py``);
the run is re-read from the store through a ``RunReporter``; the lease in SQL, not
the broker, decides who trains it, so a duplicate or stale delivery does nothing.
Nothing a run does may take the worker down: every exception ends as ``failed``.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from celery import Celery
from tricklab.config import Settings, get_settings
from tricklab.db.session import make_engine, make_session_factory
from tricklab.queue import TRAIN_RUN_TASK, TRAIN_RUNS_TASK, dispatch_bundle
from tricklab.reporting import ClaimedRun, RunReporter, TerminalStatus
from tricklab.services.reporting import SqlRunReporter

from tricklab_worker.bundles import RunTimes, execute_bundle
from tricklab_worker.engine import train_run
from tricklab_worker.engine.context import CheckpointStore, TrainOutcome
from tricklab_worker.rest_reporter import RestRunReporter
from tricklab_worker.run_link import RunLink
from tricklab_worker.runner import configure_threads, describe_error, is_cuda_oom, pick_device, release_cuda_memory

log = logging.getLogger(__name__)

AMP_ENV = "TRICKLAB_WORKER_AMP"
# Set by ``tricklab worker --api-url``: report through the REST API with TRICKLAB_TOKEN instead of SQL.
API_URL_ENV = "TRICKLAB_WORKER_API_URL"
TOKEN_ENV = "TRICKLAB_TOKEN"

_reporter: tuple[int, RunReporter] | None = None
# Per process (each pool child measures its own runs), read by the bundle task.
_run_times = RunTimes()


def process_reporter(settings: Settings) -> RunReporter:
    """This process's reporter (REST with ``--api-url``, else SQL), built after fork: no connection crosses a fork."""
    global _reporter
    if _reporter is None or _reporter[0] != os.getpid():
        api_url = os.environ.get(API_URL_ENV)
        reporter: RunReporter
        if api_url:
            reporter = RestRunReporter(api_url, os.environ.get(TOKEN_ENV))
        else:
            reporter = SqlRunReporter(make_session_factory(make_engine(settings.resolved_database_url)))
        _reporter = (os.getpid(), reporter)
    return _reporter[1]


def checkpoint_dir(settings: Settings, claimed: ClaimedRun) -> Path:
    """Where the run's checkpoint lives: the store's choice, else ``<artifacts>/runs/<run_id>``."""
    if claimed.checkpoint_path:
        path = Path(claimed.checkpoint_path)
        return path.parent if path.suffix else path
    return settings.artifacts_dir / "runs" / str(claimed.run_id)


def _train_with_oom_retry(claimed: ClaimedRun, link: RunLink, checkpoint: CheckpointStore) -> TrainOutcome:
    device = pick_device()
    amp = os.environ.get(AMP_ENV, "") in ("1", "true", "bf16")
    for try_number in (1, 2):
        try:
            return train_run(
                claimed.config, sink=link.sink, control=link, device=device, checkpoint=checkpoint, amp=amp
            )
        except Exception as exc:
            if is_cuda_oom(exc) and try_number == 1:
                log.warning("run %s: CUDA out of memory; retrying once", claimed.run_id)
                release_cuda_memory()
                continue
            log.exception("run %s attempt %s raised", claimed.run_id, claimed.attempt)
            reason = describe_error(exc)
            if is_cuda_oom(exc):
                reason = f"CUDA out of memory, also on the retry with the same config: {reason}"
            return TrainOutcome(status="failed", error=reason)
    raise AssertionError("unreachable")


def execute_train_run(
    *, reporter: RunReporter, settings: Settings, run_id: int, attempt: int, worker_id: str
) -> TerminalStatus | None:
    """Train run ``run_id`` if this attempt can claim it; return its terminal status, or None if skipped."""
    claimed = reporter.claim(run_id=run_id, attempt=attempt, worker_id=worker_id)
    if claimed is None:
        log.info("run %s attempt %s: finished or held by another attempt; nothing to do", run_id, attempt)
        return None
    configure_threads()
    # Created by the first save (save_checkpoint): a run shorter than checkpoint_seconds leaves no directory.
    directory = checkpoint_dir(settings, claimed)
    link = RunLink(
        reporter=reporter,
        run_id=claimed.run_id,
        attempt=claimed.attempt,
        flush_seconds=settings.metrics_flush_seconds,
        flush_points=settings.metrics_flush_points,
        heartbeat_seconds=settings.heartbeat_seconds,
    )
    checkpoint = CheckpointStore(
        directory=directory,
        every_steps=settings.checkpoint_every_steps,
        seconds=settings.checkpoint_seconds,
        before_save=link.flush_before_checkpoint,
    )
    with link:
        outcome = _train_with_oom_retry(claimed, link, checkpoint)
    reporter.finish(
        run_id=claimed.run_id,
        attempt=claimed.attempt,
        status=outcome.status,
        final_metrics=outcome.final_metrics,
        error=outcome.error,
    )
    log.info("run %s attempt %s: %s", claimed.run_id, claimed.attempt, outcome.status)
    return outcome.status


def worker_id(hostname: str | None) -> str:
    """Which worker process holds a lease, as shown on the run: Celery node name and pid."""
    return f"{hostname or socket.gethostname()}:{os.getpid()}"


def guarded_train_run(*, settings: Settings, run_id: int, attempt: int, hostname: str | None) -> TerminalStatus | None:
    """``execute_train_run`` with this process's reporter; a failing store is logged, never raised."""
    try:
        return execute_train_run(
            reporter=process_reporter(settings),
            settings=settings,
            run_id=run_id,
            attempt=attempt,
            worker_id=worker_id(hostname),
        )
    except Exception:
        # The store itself failed (claim/finish/final flush): leave the lease to
        # expire so the reaper re-dispatches the run; the worker goes on.
        log.exception("run %s attempt %s: could not report to the store", run_id, attempt)
        return None


def register_tasks(app: Celery) -> None:
    """Register ``tricklab.train_run`` and ``tricklab.train_runs`` on ``app`` (the API sends them by name)."""

    @app.task(name=TRAIN_RUN_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def train_run_task(self: Any, run_id: int, attempt: int) -> str | None:
        return guarded_train_run(
            settings=get_settings(), run_id=int(run_id), attempt=int(attempt), hostname=self.request.hostname
        )

    @app.task(name=TRAIN_RUNS_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def train_runs_task(self: Any, experiment_id: int, runs: list[list[int]]) -> list[str | None]:
        settings = get_settings()
        hostname = self.request.hostname
        return list(
            execute_bundle(
                experiment_id=int(experiment_id),
                runs=[(int(run_id), int(attempt)) for run_id, attempt in runs],
                bundle_seconds=settings.bundle_seconds,
                run_times=_run_times,
                train=lambda run_id, attempt: guarded_train_run(
                    settings=settings, run_id=run_id, attempt=attempt, hostname=hostname
                ),
                send_on=lambda rest: dispatch_bundle(self.app, experiment_id=int(experiment_id), runs=rest),
            )
        )
