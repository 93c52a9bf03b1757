"""Eight pool processes report to one SQLite store at once: no "database is locked", every point stored.

Two ``tricklab worker --concurrency 4`` processes (Redis as the broker) flush every
50 ms, so writes from eight writers keep colliding; WAL, the busy timeout and
short write transactions must absorb it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from tricklab.client import TricklabClient

from tests.conftest import free_port
from tests.integration.faults import ADMIN_TOKEN, audit, fault_env, record
from tests.integration.processes import process_set, tiny_spec, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.redis]

REDIS_DB = 15
STEPS = 150


def test_eight_concurrent_writers_on_sqlite(redis_url: str, tmp_path: Path) -> None:
    broker_url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(broker_url).flushdb()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = fault_env(
        tmp_path / "data",
        TRICKLAB_BROKER_URL=broker_url,
        TRICKLAB_METRICS_FLUSH_SECONDS="0.05",
        TRICKLAB_METRICS_FLUSH_POINTS="20",
    )
    database_url = f"sqlite:///{tmp_path / 'data' / 'tricklab.sqlite'}"
    with process_set(tmp_path / "logs", env) as processes:
        server = processes.start("server", "server", "--port", str(port), "--migrate")
        wait_healthy(url, server)
        workers = [processes.start(f"worker{i}", "worker", "--concurrency", "4", "--threads", "1") for i in range(2)]
        for worker in workers:
            worker.wait_for_log("ready.", timeout=90)
        with TricklabClient(url, token=ADMIN_TOKEN) as client:
            spec = tiny_spec("writers", factors=["relu", "batch_norm", "dropout"], seeds=1, epochs=20, max_steps=STEPS)
            created = client.create_experiment(spec)
            client.wait(created["id"], timeout=120, poll_seconds=0.5)
            runs = client.runs(created["id"])
        result = audit(database_url, created["id"], steps=STEPS)
        logs = processes.logs()
        locked = sum(p.log_text().count("database is locked") for p in processes.processes)
        summary = record("sqlite_writers", 8, result, lock_errors=locked, writers=len({r["worker_id"] for r in runs}))
        assert locked == 0, f"{summary}\n{logs}"
        assert result.clean and result.runs == 8, f"{summary}\n{logs}"
