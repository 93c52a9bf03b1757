"""The embedded broker's doorbell: a sender's ring wakes the waiting worker; without a slot it polls."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing
from pathlib import Path
from queue import Empty

import pytest
from sqlalchemy.engine import make_url
from tricklab import broker_doorbell
from tricklab.broker_doorbell import SLOTS, Bell, DoorbellTransport, Ringer
from tricklab.config import Settings
from tricklab.queue import dispatch_run, make_celery

pytestmark = pytest.mark.skipif(not broker_doorbell.doorbell_supported(), reason="abstract sockets are Linux-only")


@pytest.fixture
def bells() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def _bell(stack: ExitStack, database: Path) -> Bell:
    bell = Bell(str(database))
    stack.callback(bell.close)
    return bell


def test_a_ring_wakes_the_listening_bell_once(tmp_path: Path, bells: ExitStack) -> None:
    bell = _bell(bells, tmp_path / "broker.sqlite")
    assert bell.socket is not None
    ringer = Ringer(str(tmp_path / "broker.sqlite"))
    assert ringer.ring() == 1
    assert ringer.ring() == 1
    assert bell.wait(5) is True
    assert bell.wait(0) is False  # both rings were consumed by the first wake-up


def test_ringing_with_nobody_listening_is_harmless(tmp_path: Path) -> None:
    assert Ringer(str(tmp_path / "broker.sqlite")).ring() == 0


def test_bells_of_different_broker_files_do_not_hear_each_other(tmp_path: Path, bells: ExitStack) -> None:
    ours = _bell(bells, tmp_path / "a" / "broker.sqlite")
    assert Ringer(str(tmp_path / "b" / "broker.sqlite")).ring() == 0
    assert ours.wait(0) is False


def test_every_consumer_in_a_slot_is_woken_and_one_too_many_polls(tmp_path: Path, bells: ExitStack) -> None:
    database = tmp_path / "broker.sqlite"
    listening = [_bell(bells, database) for _ in range(SLOTS)]
    assert all(bell.socket is not None for bell in listening)
    extra = _bell(bells, database)
    assert extra.socket is None
    assert Ringer(str(database)).ring() == SLOTS
    assert all(bell.wait(5) for bell in listening)
    assert extra.wait(0.01) is False  # a plain sleep: it finds messages by polling


def test_a_closed_bell_frees_its_slot(tmp_path: Path, bells: ExitStack) -> None:
    database = tmp_path / "broker.sqlite"
    first = Bell(str(database))
    first.close()
    assert Ringer(str(database)).ring() == 0
    again = _bell(bells, database)
    assert again.socket is not None


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_a_waiting_worker_takes_a_message_when_it_is_sent_not_at_its_next_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An hour between polls: the message can only arrive through the doorbell before the 30 s get times out.
    monkeypatch.setattr(broker_doorbell, "IDLE_WAIT_SECONDS", 3600.0)
    settings = Settings(data_dir=tmp_path)
    consumer_app, producer_app = make_celery(settings), make_celery(settings)
    with consumer_app.connection_for_read() as conn:
        queue = conn.SimpleQueue(settings.queue_name)
        try:
            sender = threading.Timer(0.5, lambda: dispatch_run(producer_app, run_id=3, attempt=1))
            sender.start()
            started = time.monotonic()
            message = queue.get(timeout=30)
            sender.join()
            assert message.decode()[0] == [3, 1]
            message.ack()
            transport = conn.transport
            assert isinstance(transport, DoorbellTransport)
            assert time.monotonic() - started < 30  # woken, not timed out
        finally:
            queue.close()


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_a_worker_without_a_slot_still_finds_messages_by_polling(tmp_path: Path, bells: ExitStack) -> None:
    settings = Settings(data_dir=tmp_path, broker_poll_seconds=0.05)
    for _ in range(SLOTS):
        _bell(bells, tmp_path / "broker.sqlite")
    consumer_app, producer_app = make_celery(settings), make_celery(settings)
    with consumer_app.connection_for_read() as conn:
        queue = conn.SimpleQueue(settings.queue_name)
        try:
            threading.Timer(0.3, lambda: dispatch_run(producer_app, run_id=4, attempt=2)).start()
            message = queue.get(timeout=30)
            assert message.decode()[0] == [4, 2]
            message.ack()
        finally:
            queue.close()


def _broker_file(settings: Settings) -> Path:
    return Path(str(make_url(settings.resolved_broker_url.removeprefix("sqla+")).database))


def _rows(database: Path) -> list[tuple[int, bool]]:
    with closing(sqlite3.connect(database)) as connection:
        return [(int(i), bool(v)) for i, v in connection.execute("SELECT id, visible FROM kombu_message ORDER BY id")]


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_a_received_message_leaves_the_table_and_what_kombu_kept_is_swept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    producer_app, consumer_app = make_celery(settings), make_celery(settings)
    for run_id in (1, 2, 3):
        dispatch_run(producer_app, run_id=run_id, attempt=1)
    database = _broker_file(settings)
    # A row as kombu's own transport leaves it once delivered: kept, invisible, for ever.
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("UPDATE kombu_message SET visible = 0 WHERE id = (SELECT min(id) FROM kombu_message)")
        connection.commit()
    assert [visible for _, visible in _rows(database)] == [False, True, True]
    with consumer_app.connection_for_read() as conn:
        queue = conn.SimpleQueue(settings.queue_name)
        try:
            first = queue.get(block=False)
            assert first.decode()[0] == [2, 1]  # in the order sent; the delivered one is not sent again
            first.ack()
            assert [visible for _, visible in _rows(database)] == [True]
            second = queue.get(block=False)
            assert second.decode()[0] == [3, 1]
            second.ack()
            with pytest.raises(Empty):
                queue.get(block=False)
        finally:
            queue.close()
    assert _rows(database) == []


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_a_message_taken_but_not_acknowledged_is_put_back_when_its_consumer_closes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    dispatch_run(make_celery(settings), run_id=5, attempt=1)
    consumer_app = make_celery(settings)
    with consumer_app.connection_for_read() as conn:
        queue = conn.SimpleQueue(settings.queue_name)
        assert queue.get(block=False).decode()[0] == [5, 1]  # never acknowledged
        assert _rows(_broker_file(settings)) == []
        queue.close()
    with consumer_app.connection_for_read() as conn:
        queue = conn.SimpleQueue(settings.queue_name)
        try:
            again = queue.get(block=False)
            assert again.decode()[0] == [5, 1]
            again.ack()
        finally:
            queue.close()


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_two_consumers_never_receive_the_same_message(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    producer_app = make_celery(settings)
    for run_id in range(200):
        dispatch_run(producer_app, run_id=run_id, attempt=1)
    received: list[list[int]] = [[], []]

    def drain(into: list[int]) -> None:
        with make_celery(settings).connection_for_read() as conn:
            queue = conn.SimpleQueue(settings.queue_name)
            try:
                while True:
                    try:
                        message = queue.get(block=False)
                    except Empty:
                        return
                    into.append(message.decode()[0][0])
                    message.ack()
            finally:
                queue.close()

    threads = [threading.Thread(target=drain, args=(into,)) for into in received]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(received[0] + received[1]) == list(range(200))
    assert received[0] == sorted(received[0]) and received[1] == sorted(received[1])
