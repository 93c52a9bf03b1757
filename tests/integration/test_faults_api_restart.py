"""Restart the API server mid-experiment: no run or metric lost, and the live event stream picks up again.

Team topology on PostgreSQL and Redis; the two workers have no database access:
they report through the REST API (``tricklab worker --api-url``), so while the
server is down their reports fail and are retried with backoff, and a lease that
ran out meanwhile makes the run resume from its checkpoint as the next attempt.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from tricklab.client import TricklabClient

from tests.conftest import free_port
from tests.integration.faults import ADMIN_TOKEN, STEPS, audit, fault_env, record, slow_spec, wait_until
from tests.integration.processes import process_set, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

REDIS_DB = 14
RESTARTS = 2


@pytest.fixture
def fresh_database(postgres_server_url: str) -> Iterator[str]:
    name = f"tricklab_faults_{uuid.uuid4().hex[:8]}"
    admin = postgres_server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_api_server_restarts_lose_nothing_and_events_resume(
    fresh_database: str, redis_url: str, tmp_path: Path
) -> None:
    broker_url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(broker_url).flushdb()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = fault_env(tmp_path / "data", TRICKLAB_BROKER_URL=broker_url, TRICKLAB_DATABASE_URL=fresh_database)
    with process_set(tmp_path / "logs", env) as processes:
        processes.start("migrate", "migrate").popen.wait(timeout=60)  # the one-shot step of a team deployment
        server = processes.start("server0", "server", "--port", str(port))
        wait_healthy(url, server)
        # The workers get neither the database URL nor the admin's settings: only the API and a token.
        workers = [
            processes.start(
                f"worker{i}", "worker", "--api-url", url, env={"TRICKLAB_DATABASE_URL": "sqlite:///nowhere"}
            )
            for i in range(2)
        ]
        for worker in workers:
            worker.wait_for_log("ready.", timeout=90)
        with TricklabClient(url, token=ADMIN_TOKEN) as client:
            created = client.create_experiment(slow_spec("api-restart", factors=["relu"], seeds=1))
            experiment_id = created["id"]
            for restart in range(RESTARTS):
                wait_until(
                    lambda: any(r["status"] == "running" and r["progress"] > 0.2 for r in client.runs(experiment_id)),
                    90,
                    "a run well under way",
                    processes.logs,
                )
                server.stop()
                time.sleep(1.0)  # workers' reports fail meanwhile and are retried
                server = processes.start(f"server{restart + 1}", "server", "--port", str(port))
                wait_healthy(url, server)
                # A reconnected event stream starts with a full snapshot of the experiment.
                event, data = next(iter(client.events(experiment_id)))
                assert event == "snapshot", (event, data)
            events = [event for event, _ in client.events(experiment_id)]
            experiment = client.wait(experiment_id, timeout=150, poll_seconds=0.5)
        result = audit(fresh_database, experiment_id, steps=STEPS)
        summary = record("api_restart", RESTARTS, result)
        assert result.clean, f"{summary}\n{processes.logs()}"
        assert experiment["status"] == "finished", summary
        assert events[0] == "snapshot" and events[-1] == "end", events
        # The outage did reach the workers: their reports failed and were re-sent.
        assert any("retrying in" in w.log_text() for w in workers), processes.logs()
