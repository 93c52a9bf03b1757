"""A doorbell for the embedded SQLite broker: whoever sends a message rings, and a waiting worker wakes at once.

kombu's SQL transport has no way to wait for a message: a worker with nothing to do polls the
queue table, and a run sent just after a poll waits for the next one. With the 0.02 s poll, that wait
was the largest part of the queue overhead on short runs (issue 7, benchmarks/bench_queue.py). A
shorter poll costs CPU on every idle machine. So every process that commits a message (the API,
a worker handing on part of a bundle, the reaper) also sends one datagram to each consumer of the same
broker file. The consumer (the Celery worker's main process) sleeps in ``select`` on its socket
instead of ``time.sleep``, and polls again as soon as the datagram arrives. It still polls every
``IDLE_WAIT_SECONDS`` on its own, so a message whose ring was lost is only late, never stuck.

The sockets are Linux abstract-namespace datagram sockets named after the broker file. They leave
no file behind, have no path-length limit, and vanish with their process. ``SLOTS`` consumers per
broker file can listen; any more, and platforms without abstract sockets, fall back to plain polling.
Any local process may ring: a stray ring costs one extra poll, nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import select
import socket
import sys
import time
from queue import Empty
from typing import Any, cast

import sqlalchemy as sa
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy.engine import make_url

SLOTS = 8
# Without rings the worker would still find a message within this long (the fallback poll).
IDLE_WAIT_SECONDS = 1.0
# The URL scheme prefix that selects DoorbellTransport (registered with kombu below).
TRANSPORT_ALIAS = "tricklab-sqla"

log = logging.getLogger(__name__)


def bell_addresses(database: str) -> list[bytes]:
    """The abstract socket names of the consumers of the broker file ``database``."""
    digest = hashlib.sha256(os.path.abspath(database).encode()).hexdigest()[:20]
    return [f"\0tricklab-broker-{digest}-{slot}".encode() for slot in range(SLOTS)]


def doorbell_supported() -> bool:
    return sys.platform.startswith("linux")


class Ringer:
    """The sender's side: one datagram to every consumer slot; a slot with no listener refuses at once."""

    def __init__(self, database: str) -> None:
        self._addresses = bell_addresses(database) if doorbell_supported() else []

    def ring(self) -> int:
        """Wake every listening consumer; how many were listening. Never raises: a lost ring only delays."""
        if not self._addresses:
            return 0
        woken = 0
        # A socket per ring (~20 us): nothing held open between messages, nothing to close on exit.
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            for address in self._addresses:
                try:
                    sender.sendto(b"!", address)
                    woken += 1
                except BlockingIOError:
                    woken += 1  # its queue is full of rings it has not read yet: it is awake already
                except OSError:
                    continue  # nobody in this slot
        return woken


class Bell:
    """The consumer's side: the first free slot, or none (then ``wait`` is a plain sleep)."""

    def __init__(self, database: str) -> None:
        self.socket: socket.socket | None = None
        if not doorbell_supported():
            return
        for address in bell_addresses(database):
            candidate = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                candidate.bind(address)
            except OSError:
                candidate.close()
                continue
            candidate.setblocking(False)
            self.socket = candidate
            return
        log.info("all %d doorbell slots of %s are taken: this worker polls the broker instead", SLOTS, database)

    def wait(self, timeout: float) -> bool:
        """Sleep until a ring or ``timeout`` seconds; True when rung. Every pending ring is consumed."""
        if self.socket is None:
            time.sleep(timeout)
            return False
        readable, _, _ = select.select([self.socket], [], [], timeout)
        if not readable:
            return False
        with contextlib.suppress(BlockingIOError):
            while True:
                self.socket.recv(16)
        return True

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    def __del__(self) -> None:
        self.close()


class DoorbellChannel(kombu_sqla.Channel):
    """kombu's SQL channel that rings after each message it commits, and deletes a message as it hands it out.

    kombu marks a delivered message invisible and keeps its row for ever: the table grows by every
    message ever sent, and each receive scans past them (1.4 ms per receive after 20,000). Here a
    receive deletes the row, so the table holds only waiting messages. Sends and receives are
    Core statements on the transport's engine instead of kombu's ORM session, which took ~1.4 ms
    for each, on the path of every queued run (issue 7).
    """

    connection: DoorbellTransport

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._queue_ids: dict[str, int] = {}
        self._swept = False
        table = self.message_cls.__table__
        # Built once: a queued run pays one send and one receive (or more, for bundles handed on).
        self._insert = table.insert()
        self._next_waiting = (
            sa.select(table.c.id, table.c.payload)
            .where(table.c.queue_id == sa.bindparam("queue_id"), table.c.visible.is_(True))
            .order_by(table.c.id)
            .limit(1)
        )
        self._take = table.delete().where(table.c.id == sa.bindparam("message_id"))
        self._sweep = table.delete().where(table.c.visible.is_(False))

    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]  # kombu's own bases disagree
        row = {"queue_id": self._queue_id(queue), "payload": json.dumps(payload), "visible": True, "version": 1}
        with self._engine().begin() as connection:
            connection.execute(self._insert, row)
        self.connection.ringer.ring()

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        queue_id = self._queue_id(queue)
        with self._engine().connect() as connection:
            if not self._swept:
                # What kombu's own receive left behind (delivered, kept invisible) serves nobody.
                connection.execute(self._sweep)
                connection.commit()
                self._swept = True
            while True:
                waiting = connection.execute(self._next_waiting, {"queue_id": queue_id}).first()
                if waiting is None:
                    connection.rollback()
                    raise Empty()
                # Whoever deletes the row has the message; a consumer that finds it gone looks again.
                taken = connection.execute(self._take, {"message_id": waiting.id}).rowcount
                connection.commit()
                if taken:
                    return json.loads(waiting.payload)

    def _queue_id(self, queue: str) -> int:
        if queue not in self._queue_ids:
            self._queue_ids[queue] = int(self._get_or_create(queue).id)  # type: ignore[no-untyped-call]
        return self._queue_ids[queue]

    def _engine(self) -> sa.Engine:
        engine, _ = self._open()  # type: ignore[no-untyped-call]
        return cast(sa.Engine, engine)


class DoorbellTransport(kombu_sqla.Transport):
    """kombu's SQL transport whose idle consumer waits on the doorbell instead of sleeping a poll interval."""

    Channel = DoorbellChannel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)  # type: ignore[no-untyped-call]
        database = make_url(client.hostname).database or ""
        self.ringer = Ringer(database)
        self._database = database
        self._bell: Bell | None = None

    def drain_events(self, connection: Any, timeout: float | None = None) -> None:  # type: ignore[override]
        # kombu's virtual Transport.drain_events, with its sleep(polling_interval) made a doorbell wait.
        cycle = self.cycle
        assert cycle is not None

        if self._bell is None:
            self._bell = Bell(self._database)  # only consumers get here: producers never take a slot
        idle_wait = IDLE_WAIT_SECONDS if self._bell.socket is not None else self.polling_interval
        started = time.monotonic()
        while True:
            try:
                cycle.get(self._deliver, timeout=timeout)  # type: ignore[no-untyped-call]
                return
            except Empty:
                wait = idle_wait
                if timeout is not None:
                    left = timeout - (time.monotonic() - started)
                    if left <= 0:
                        raise TimeoutError() from None
                    wait = min(wait, left)
                self._bell.wait(wait)

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)  # type: ignore[no-untyped-call]
        if self._bell is not None:
            self._bell.close()
            self._bell = None


TRANSPORT_ALIASES.setdefault(TRANSPORT_ALIAS, f"{__name__}:DoorbellTransport")
