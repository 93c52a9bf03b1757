"""Kill Redis mid-experiment and start it again empty: every run still finishes, nothing trained twice.

A redis-server of the test's own on a free port (the machine's Redis is shared),
without persistence, so the restart loses every queued and unacknowledged
message. The server's reaper re-dispatches queued runs no worker claimed for a
while; the worker reconnects to the new Redis and goes on.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import redis
from tricklab.client import TricklabClient

from tests.conftest import free_port, require
from tests.integration.faults import ADMIN_TOKEN, audit, fault_env, record, running_run, wait_until
from tests.integration.processes import process_set, tiny_spec, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.redis]

STEPS = 40
RESTARTS = 2


class RedisServer:
    """A redis-server without persistence: killing it loses every message it held."""

    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        client = redis.Redis(port=self.port)
        wait_until(lambda: _pings(client), 10, f"redis-server on {self.port}", self.log.read_text)
        client.close()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_redis_restarts_lose_no_run(tmp_path: Path) -> None:
    require(shutil.which("redis-server") is not None, "redis-server")
    redis_port, port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    env = fault_env(tmp_path / "data", TRICKLAB_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0")
    database_url = f"sqlite:///{tmp_path / 'data' / 'tricklab.sqlite'}"
    with process_set(tmp_path / "logs", env) as processes:
        broker = RedisServer(redis_port, tmp_path / "redis.log")
        broker.start()
        try:
            server = processes.start("server", "server", "--port", str(port), "--migrate")
            wait_healthy(url, server)
            worker = processes.start("worker", "worker")
            worker.wait_for_log("ready.", timeout=90)
            with TricklabClient(url, token=ADMIN_TOKEN) as client:
                spec = tiny_spec("redis-restart", factors=["relu", "batch_norm"], seeds=1, width=512, epochs=20)
                created = client.create_experiment({**spec, "base": {**spec["base"], "max_steps": STEPS}})
                seen: set[int] = set()
                for _ in range(RESTARTS):
                    # Each restart while a run not yet hit is training, so the faults are spread out.
                    def fresh_run() -> tuple[int, str] | None:
                        held = running_run(database_url, created["id"])
                        return held if held and held[0] not in seen else None

                    run_id, _ = wait_until(fresh_run, 60, "a running run", processes.logs)
                    seen.add(run_id)
                    broker.kill()  # SIGKILL: queued and unacknowledged messages are gone
                    broker.start()
                experiment = client.wait(created["id"], timeout=120, poll_seconds=0.5)
        finally:
            broker.kill()
        result = audit(database_url, created["id"], steps=STEPS)
        summary = record("redis_restart", RESTARTS, result)
        assert result.clean and result.runs == 4, f"{summary}\n{processes.logs()}"
        assert experiment["status"] == "finished", summary
