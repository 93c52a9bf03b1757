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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery
from tricklab.config import Settings, get_settings
from tricklab.db.session import make_engine, make_session_factory
from tricklab.queue import TRAIN_RUN_TASK, TRAIN_RUNS_TASK, dispatch_bundle
from tricklab.reporting import ClaimedRun, RunReporter, TerminalStatus
from tricklab.services.reporting import SqlRunReporter

from tricklab_worker.bundles import RunRef, RunTimes, execute_bundle
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


class LeaseChain:
    """Trains runs one after another in this process, claiming each with the previous one's finish.

    A bundle's runs follow each other on one worker; ending one and taking the next in one
    transaction saves a round trip per run (issue 7). A run with nothing after it just finishes.
    """

    def __init__(self, *, reporter: RunReporter, settings: Settings, worker_id: str) -> None:
        self._reporter = reporter
        self._settings = settings
        self._worker_id = worker_id
        # The run claimed with the previous finish, and what that claim returned (None: not ours).
        self._claimed_next: tuple[RunRef, ClaimedRun | None] | None = None

    def train(
        self, run_id: int, attempt: int, next_run: Callable[[], RunRef | None] = lambda: None
    ) -> TerminalStatus | None:
        """Train run ``run_id`` if this attempt can claim it; its terminal status, or None if skipped.

        ``next_run()``, asked after training, names the run to claim together with this one's finish.
        """
        claimed = self._take_claim(run_id, attempt)
        if claimed is None:
            log.info("run %s attempt %s: finished or held by another attempt; nothing to do", run_id, attempt)
            return None
        outcome = self._train_claimed(claimed)
        following = next_run()
        if following is None:
            self._reporter.finish(
                run_id=claimed.run_id,
                attempt=claimed.attempt,
                status=outcome.status,
                final_metrics=outcome.final_metrics,
                error=outcome.error,
            )
        else:
            then = self._reporter.finish_and_claim(
                run_id=claimed.run_id,
                attempt=claimed.attempt,
                status=outcome.status,
                final_metrics=outcome.final_metrics,
                error=outcome.error,
                next_run_id=following[0],
                next_attempt=following[1],
                worker_id=self._worker_id,
            )
            self._claimed_next = (following, then)
        log.info("run %s attempt %s: %s", claimed.run_id, claimed.attempt, outcome.status)
        return outcome.status

    def still_claimable(self, runs: list[RunRef]) -> list[RunRef]:
        """Of ``runs``, those not taken by anyone since they were sent (one read)."""
        return self._reporter.claimable(runs=runs)

    def _take_claim(self, run_id: int, attempt: int) -> ClaimedRun | None:
        claimed_next, self._claimed_next = self._claimed_next, None
        if claimed_next is not None and claimed_next[0] == (run_id, attempt):
            return claimed_next[1]
        return self._reporter.claim(run_id=run_id, attempt=attempt, worker_id=self._worker_id)

    def _train_claimed(self, claimed: ClaimedRun) -> TrainOutcome:
        settings = self._settings
        configure_threads()
        link = RunLink(
            reporter=self._reporter,
            run_id=claimed.run_id,
            attempt=claimed.attempt,
            flush_seconds=settings.metrics_flush_seconds,
            flush_points=settings.metrics_flush_points,
            heartbeat_seconds=settings.heartbeat_seconds,
        )
        # Created by the first save (save_checkpoint): a run shorter than checkpoint_seconds leaves no directory.
        checkpoint = CheckpointStore(
            directory=checkpoint_dir(settings, claimed),
            every_steps=settings.checkpoint_every_steps,
            seconds=settings.checkpoint_seconds,
            before_save=link.flush_before_checkpoint,
        )
        with link:
            return _train_with_oom_retry(claimed, link, checkpoint)


def execute_train_run(
    *, reporter: RunReporter, settings: Settings, run_id: int, attempt: int, worker_id: str
) -> TerminalStatus | None:
    """Train run ``run_id`` if this attempt can claim it; return its terminal status, or None if skipped."""
    return LeaseChain(reporter=reporter, settings=settings, worker_id=worker_id).train(run_id, attempt)


def worker_id(hostname: str | None) -> str:
    """Which worker process holds a lease, as shown on the run: Celery node name and pid."""
    return f"{hostname or socket.gethostname()}:{os.getpid()}"


def guarded(train: Callable[[], TerminalStatus | None], run_id: int, attempt: int) -> TerminalStatus | None:
    """``train()``; a failing store is logged, never raised (None, as for a run not claimed here)."""
    try:
        return train()
    except Exception:
        # The store itself failed (claim/finish/final flush): leave the lease to
        # expire so the reaper re-dispatches the run; the worker goes on.
        log.exception("run %s attempt %s: could not report to the store", run_id, attempt)
        return None


def process_chain(settings: Settings, hostname: str | None) -> LeaseChain:
    """A ``LeaseChain`` over this process's reporter."""
    return LeaseChain(reporter=process_reporter(settings), settings=settings, worker_id=worker_id(hostname))


def register_tasks(app: Celery) -> None:
    """Register ``tricklab.train_run`` and ``tricklab.train_runs`` on ``app`` (the API sends them by name)."""

    @app.task(name=TRAIN_RUN_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def train_run_task(self: Any, run_id: int, attempt: int) -> str | None:
        chain = process_chain(get_settings(), self.request.hostname)
        return guarded(lambda: chain.train(int(run_id), int(attempt)), int(run_id), int(attempt))

    @app.task(name=TRAIN_RUNS_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def train_runs_task(self: Any, experiment_id: int, runs: list[list[int]]) -> list[str | None]:
        settings = get_settings()
        chain = process_chain(settings, self.request.hostname)
        return list(
            execute_bundle(
                experiment_id=int(experiment_id),
                runs=[(int(run_id), int(attempt)) for run_id, attempt in runs],
                bundle_seconds=settings.bundle_seconds,
                run_times=_run_times,
                train=lambda run_id, attempt, next_run: guarded(
                    lambda: chain.train(run_id, attempt, next_run), run_id, attempt
                ),
                send_on=lambda rest: dispatch_bundle(self.app, experiment_id=int(experiment_id), runs=rest),
                still_claimable=chain.still_claimable,
            )
        )
