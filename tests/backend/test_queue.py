"""The queue producer: delivery settings and dispatch by task name with ids only."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pytest
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import text
from tricklab.config import Settings
from tricklab.queue import (
    TRAIN_RUN_TASK,
    TRAIN_RUNS_TASK,
    bundle_task_id_for,
    dispatch_bundle,
    dispatch_run,
    make_celery,
    revoke_run,
    revoke_runs_of_experiment,
    task_id_for,
    waiting_messages,
)


def test_delivery_settings(tmp_path: Path) -> None:
    app = make_celery(Settings(data_dir=tmp_path, broker_url="memory://", queue_name="q1"))
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_default_queue == "q1"
    assert app.conf.task_ignore_result is True


def test_embedded_broker_polls_fast(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", broker_poll_seconds=0.1)
    app = make_celery(settings)
    # The same file through kombu's SQL transport, with the doorbell (tricklab.broker_doorbell) in front.
    assert app.conf.broker_url == f"tricklab-sqla+sqlite:///{tmp_path / 'd' / 'broker.sqlite'}"
    assert kombu_sqla.Transport.polling_interval == 0.1
    assert (tmp_path / "d").is_dir()


def test_dispatch_sends_only_ids(tmp_path: Path) -> None:
    app = make_celery(Settings(data_dir=tmp_path, broker_url="memory://"))
    task_id = dispatch_run(app, run_id=42, attempt=3)
    assert task_id
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("tricklab")
        try:
            message = queue.get(timeout=2)
            assert message.headers["task"] == TRAIN_RUN_TASK
            assert message.headers["id"] == task_id
            args, kwargs, _embed = message.decode()
            assert (args, kwargs) == ([42, 3], {})
            message.ack()
        finally:
            queue.close()


def test_a_bundle_is_one_message_with_the_experiment_and_its_runs(tmp_path: Path) -> None:
    app = make_celery(Settings(data_dir=tmp_path, broker_url="memory://"))
    dispatch_bundle(app, experiment_id=5, runs=[(10, 1), (11, 1), (12, 2)])
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("tricklab")
        try:
            message = queue.get(timeout=2)
            assert message.headers["task"] == TRAIN_RUNS_TASK
            assert message.headers["id"] == bundle_task_id_for(10, 1)
            args, kwargs, _embed = message.decode()
            assert (args, kwargs) == ([5, [[10, 1], [11, 1], [12, 2]]], {})
            # What logs and monitoring show of it: the ids, as Celery would have shown them.
            assert (message.headers["argsrepr"], message.headers["kwargsrepr"]) == (
                "[5, [[10, 1], [11, 1], [12, 2]]]",
                "{}",
            )
            message.ack()
            assert queue.qsize() == 0
        finally:
            queue.close()


def test_a_long_bundle_shows_a_capped_repr_of_its_arguments(tmp_path: Path) -> None:
    app = make_celery(Settings(data_dir=tmp_path, broker_url="memory://"))
    runs = [(run_id, 1) for run_id in range(100_000, 100_200)]
    dispatch_bundle(app, experiment_id=5, runs=runs)
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("tricklab")
        try:
            message = queue.get(timeout=2)
            shown = message.headers["argsrepr"]
            assert len(shown) == 1024 and shown.startswith("[5, [[100000, 1], ") and shown.endswith("...")
            assert message.decode()[0] == [5, [[run_id, 1] for run_id, _ in runs]]  # the message itself is whole
            message.ack()
        finally:
            queue.close()


def test_waiting_messages_counts_what_no_worker_took(tmp_path: Path) -> None:
    app = make_celery(Settings(data_dir=tmp_path, broker_url="memory://", queue_name="count-me"))
    assert waiting_messages(app) == 0
    dispatch_run(app, run_id=1, attempt=1)
    dispatch_bundle(app, experiment_id=1, runs=[(2, 1), (3, 1)])
    assert waiting_messages(app) == 2
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("count-me")
        try:
            queue.get(timeout=2).ack()
        finally:
            queue.close()
    assert waiting_messages(app) == 1
    unreachable = make_celery(Settings(data_dir=tmp_path, broker_url="redis://127.0.0.1:1/0"))
    unreachable.conf.broker_connection_timeout = 0.5
    unreachable.conf.broker_connection_max_retries = 0
    assert waiting_messages(unreachable) is None


class RecordingControl:
    def __init__(self) -> None:
        self.broadcasts: list[list[str]] = []

    def revoke(self, ids: list[str]) -> None:
        self.broadcasts.append(list(ids))


def test_cancelling_an_experiment_revokes_its_runs_and_bundles_in_one_broadcast() -> None:
    control = RecordingControl()
    app = SimpleNamespace(conf=SimpleNamespace(broker_url="redis://127.0.0.1:6379/0"), control=control)
    assert revoke_runs_of_experiment(app, runs=[(3, 1), (4, 2)])
    assert control.broadcasts == [
        [task_id_for(3, 1), task_id_for(4, 2), bundle_task_id_for(3, 1), bundle_task_id_for(4, 2)]
    ]
    # One run cancelled alone: a bundle it heads carries other runs, so it stays.
    assert revoke_run(app, run_id=5, attempts=[1])
    assert control.broadcasts[-1] == [task_id_for(5, 1)]
    # The embedded SQL broker cannot broadcast: nothing is attempted.
    sql_app = SimpleNamespace(conf=SimpleNamespace(broker_url="sqla+sqlite:///x"), control=control)
    assert not revoke_runs_of_experiment(sql_app, runs=[(3, 1)])
    assert len(control.broadcasts) == 2


# kombu's SQLAlchemy transport declares lazy="noload" relationships, deprecated in SQLAlchemy 2.1.
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_dispatch_through_the_embedded_sqlite_broker(tmp_path: Path) -> None:
    app = make_celery(Settings(data_dir=tmp_path))
    dispatch_run(app, run_id=7, attempt=1)
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("tricklab")
        try:
            message = queue.get(timeout=5)
            assert message.decode()[0] == [7, 1]
            message.ack()
        finally:
            queue.close()


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_embedded_broker_writes_without_waiting_for_fsync(tmp_path: Path) -> None:
    app = make_celery(Settings(data_dir=tmp_path))
    dispatch_run(app, run_id=1, attempt=1)
    with app.connection_for_write() as conn:
        session = conn.default_channel.session
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    # The mode is the file's: a plain connection sees it too.
    with closing(sqlite3.connect(tmp_path / "broker.sqlite")) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
