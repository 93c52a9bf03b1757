"""The queue producer: a Celery app that dispatches runs by task name, carrying only ids.

The worker's Celery app is built by the same ``make_celery`` so both sides agree
on the broker, the queue and the delivery guarantees. The broker is never the
source of truth (the lease lives in SQL); it only wakes a worker up.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from celery import Celery
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy.engine import make_url

from tricklab.config import Settings

TRAIN_RUN_TASK = "tricklab.train_run"

log = logging.getLogger(__name__)


def _tune_embedded_broker(settings: Settings) -> None:
    # kombu hands every transport option to create_engine, so the poll interval can
    # only be set on the Transport class, where kombu's virtual transport reads it
    # (kombu's default 1 s => a worker idles ~1 s between runs; ours, 0.02 s => ~0.02 s).
    kombu_sqla.Transport.polling_interval = settings.broker_poll_seconds


def sqlite_broker_connector(path: str) -> Callable[[], sqlite3.Connection]:
    """Connections to the embedded broker's SQLite file in WAL mode with synchronous=NORMAL, like the store's.

    kombu opens the file with SQLite's defaults (rollback journal, synchronous=FULL): every
    send and every receive then waited for several fsyncs, 10-20 ms each, i.e. per queued run
    (issue 7, benchmarks/bench_queue.py); with WAL and NORMAL ~0.7 ms. What NORMAL can lose is
    the last messages before a power cut, never an application crash, and the reaper
    re-dispatches runs nobody claimed.
    """

    def connect() -> sqlite3.Connection:
        # The producer dispatches from a background thread for large experiments.
        connection = sqlite3.connect(path, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return connect


def make_celery(settings: Settings) -> Celery:
    """A Celery app for ``settings``: late acks, prefetch 1, reject on worker loss, no result backend."""
    broker_url = settings.resolved_broker_url
    transport_options: dict[str, Any] = {}
    if broker_url.startswith("sqla+"):
        _tune_embedded_broker(settings)
        if broker_url.startswith("sqla+sqlite:///"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            database = make_url(broker_url.removeprefix("sqla+")).database
            if database and database != ":memory:":
                # kombu hands transport options to create_engine.
                transport_options["creator"] = sqlite_broker_connector(database)
    app = Celery("tricklab", broker=broker_url, set_as_current=False)
    if transport_options:
        app.conf.broker_transport_options = transport_options
    if broker_url.startswith(("redis://", "rediss://")) and settings.broker_visibility_seconds is not None:
        visibility = max(1, int(settings.broker_visibility_seconds))
        # kombu sweeps unacknowledged messages back only every interval x throttle seconds
        # (~100 s by default); a short visibility timeout needs a sweep to match.
        app.conf.broker_transport_options = {
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1, visibility // 2),
            "unacked_restore_throttle": 1,
        }
    app.conf.update(
        task_default_queue=settings.queue_name,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
    )
    return app


def task_id_for(run_id: int, attempt: int) -> str:
    """The message id of (run, attempt): derived, not stored, so a cancel can revoke every copy of it."""
    return f"tricklab-run-{run_id}-attempt-{attempt}"


def dispatch_run(celery_app: Any, *, run_id: int, attempt: int) -> str | None:
    """Send ``tricklab.train_run(run_id, attempt)``; returns the message's task id."""
    result = celery_app.send_task(TRAIN_RUN_TASK, args=[run_id, attempt], task_id=task_id_for(run_id, attempt))
    task_id = getattr(result, "id", None)
    return str(task_id) if task_id is not None else None


def revoke_run(celery_app: Any, *, run_id: int, attempts: Iterable[int]) -> bool:
    """Ask workers to drop the queued messages of ``run_id``'s ``attempts``; False when the broker cannot broadcast.

    Best effort by design: revocation is a broadcast the embedded SQL broker cannot
    carry and a worker started later never hears; the SQL lease is what stops a
    cancelled run (its claim fails), revoking only spares the worker the delivery.
    """
    ids = [task_id_for(run_id, attempt) for attempt in attempts]
    try:
        if not ids or str(celery_app.conf.broker_url or "").startswith("sqla+"):
            return False
        celery_app.control.revoke(ids)
    except Exception:
        log.warning("could not revoke the messages of run %s", run_id, exc_info=True)
        return False
    return True
