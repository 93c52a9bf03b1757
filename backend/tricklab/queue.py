"""The queue producer: a Celery app that dispatches runs by task name, carrying only ids.

The worker's Celery app is built by the same ``make_celery`` so both sides agree
on the broker, the queue and the delivery guarantees. The broker is never the
source of truth (the lease lives in SQL); it only wakes a worker up.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from celery import Celery
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy.engine import make_url

from tricklab import broker_doorbell
from tricklab.config import Settings

TRAIN_RUN_TASK = "tricklab.train_run"
# One message for several runs of one experiment (see dispatch_bundle).
TRAIN_RUNS_TASK = "tricklab.train_runs"

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


def is_sql_broker(broker_url: str) -> bool:
    """A broker in SQL (kombu's transport, or the embedded one with its doorbell): no broadcast, no fanout."""
    return broker_url.startswith(("sqla+", f"{broker_doorbell.TRANSPORT_ALIAS}+"))


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
                # Same file and tables, through the transport that rings the waiting worker (broker_doorbell).
                broker_url = f"{broker_doorbell.TRANSPORT_ALIAS}+{broker_url.removeprefix('sqla+')}"
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
    return _send(celery_app, TRAIN_RUN_TASK, [run_id, attempt], task_id=task_id_for(run_id, attempt))


def bundle_task_id_for(run_id: int, attempt: int) -> str:
    """The message id of a bundle, named after its first (run, attempt), so cancelling an experiment can revoke it."""
    return f"tricklab-runs-from-{run_id}-attempt-{attempt}"


def dispatch_bundle(celery_app: Any, *, experiment_id: int, runs: Sequence[tuple[int, int]]) -> str | None:
    """Send ``tricklab.train_runs(experiment_id, [[run_id, attempt], ...])``: one message for several runs.

    A lone run goes as a plain ``tricklab.train_run`` message (revocable on its own).

    A queued message costs a worker ~5-10 ms (broker receive, pool hand-off, ack) whatever the run
    does, i.e. ~10% of a 0.1 s run. The worker that takes a bundle keeps only as many runs as fit
    in a couple of seconds of the experiment's typical run and sends the rest on at once, so
    other workers share the bundle as they would share single messages (issue 7).
    """
    if len(runs) == 1:
        return dispatch_run(celery_app, run_id=runs[0][0], attempt=runs[0][1])
    args = [experiment_id, [[run_id, attempt] for run_id, attempt in runs]]
    return _send(celery_app, TRAIN_RUNS_TASK, args, task_id=bundle_task_id_for(*runs[0]))


# What Celery shows of a message's arguments in logs and events, as its own argsrepr is capped.
_ARGS_REPR_CHARS = 1024


def _send(celery_app: Any, name: str, args: list[Any], *, task_id: str) -> str | None:
    # The arguments are ids only, so their plain repr is safe to show; Celery's own saferepr of a
    # 64-run bundle took ~0.3 ms of every send, on the path from a POST to its first run (issue 7).
    shown = repr(args)
    if len(shown) > _ARGS_REPR_CHARS:
        shown = shown[: _ARGS_REPR_CHARS - 3] + "..."
    result = celery_app.send_task(name, args=args, task_id=task_id, argsrepr=shown, kwargsrepr="{}")
    task_id_sent = getattr(result, "id", None)
    return str(task_id_sent) if task_id_sent is not None else None


def waiting_messages(celery_app: Any) -> int | None:
    """How many messages wait in the run queue, not yet taken by a worker; None when the broker cannot say."""
    try:
        with celery_app.connection_for_read() as connection:
            declared = connection.default_channel.queue_declare(queue=celery_app.conf.task_default_queue, passive=True)
            return int(declared.message_count)
    except Exception as exc:
        if str(getattr(exc, "reply_code", "")) == "404":
            return 0  # never declared here, or Redis dropped the emptied list: nothing waits
        log.debug("could not count the queued messages", exc_info=True)
        return None


def revoke_run(celery_app: Any, *, run_id: int, attempts: Iterable[int]) -> bool:
    """Ask workers to drop the queued messages of ``run_id``'s ``attempts``; False when the broker cannot broadcast.

    Best effort by design: revocation is a broadcast the embedded SQL broker cannot
    carry and a worker started later never hears; the SQL lease is what stops a
    cancelled run (its claim fails), revoking only spares the worker the delivery.
    A bundle holding the run is left alone: it carries other runs too.
    """
    return _revoke(celery_app, [task_id_for(run_id, attempt) for attempt in attempts], what=f"run {run_id}")


def revoke_runs_of_experiment(celery_app: Any, *, runs: Sequence[tuple[int, int]]) -> bool:
    """One broadcast dropping the queued messages of every cancelled (run, attempt), bundles included.

    Only for a whole experiment: a bundle carries runs of one experiment, so when all of them
    are cancelled, any bundle headed by one of them can go.
    """
    ids = [task_id_for(run_id, attempt) for run_id, attempt in runs]
    ids += [bundle_task_id_for(run_id, attempt) for run_id, attempt in runs]
    return _revoke(celery_app, ids, what=f"{len(runs)} runs")


def _revoke(celery_app: Any, ids: list[str], *, what: str) -> bool:
    try:
        if not ids or is_sql_broker(str(celery_app.conf.broker_url or "")):
            return False
        celery_app.control.revoke(ids)
    except Exception:
        log.warning("could not revoke the messages of %s", what, exc_info=True)
        return False
    return True
