"""The queue producer: delivery settings and dispatch by task name with ids only."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import text
from tricklab.config import Settings
from tricklab.queue import TRAIN_RUN_TASK, dispatch_run, make_celery


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
    assert app.conf.broker_url == f"sqla+sqlite:///{tmp_path / 'd' / 'broker.sqlite'}"
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
