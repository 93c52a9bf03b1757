"""docker-compose.yml's topology as plain processes: PostgreSQL + Redis + migrate + server + two workers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from tricklab.client import TricklabClient

from tests.conftest import free_port
from tests.integration.processes import (
    assert_all_succeeded,
    clean_env,
    process_set,
    run_to_completion,
    tiny_spec,
    wait_healthy,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

REDIS_DB = 12


@pytest.fixture
def fresh_database(postgres_server_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this test, dropped afterwards."""
    name = f"tricklab_it_{uuid.uuid4().hex[:12]}"
    admin = postgres_server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_server_and_two_workers_share_an_experiment(fresh_database: str, redis_url: str, tmp_path: Path) -> None:
    broker_url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(broker_url).flushdb()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(
        TRICKLAB_DATABASE_URL=fresh_database,
        TRICKLAB_BROKER_URL=broker_url,
        TRICKLAB_DATA_DIR=str(tmp_path / "shared-artifacts"),
        TRICKLAB_PUBLIC_URL=url,
    )
    with process_set(tmp_path / "logs", env) as processes:
        migrate = processes.start("migrate", "migrate")
        assert migrate.popen.wait(timeout=120) == 0, processes.logs()
        server = processes.start("server", "server", "--port", str(port))
        workers = [processes.start(f"worker{i}", "worker", "--concurrency", "1") for i in range(2)]
        wait_healthy(url, server)
        for worker in workers:
            worker.wait_for_log("ready.", timeout=120)
        with TricklabClient(url) as client:
            spec = tiny_spec("team-e2e", epochs=3)
            experiment, runs = run_to_completion(client, spec, processes, timeout=180)
            assert_all_succeeded(experiment, runs, processes)
            assert len(runs) == 8
        trained_by = {run["worker_id"] for run in runs}
        assert len(trained_by) == 2, f"expected both workers to train runs, got {trained_by}"
        for worker in workers:
            assert "tricklab.train_run" in worker.log_text()
