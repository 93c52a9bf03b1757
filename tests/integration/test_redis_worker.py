"""A real Redis broker, a real ``tricklab worker`` (Celery) and the API server, through the REST API."""

from __future__ import annotations

from pathlib import Path

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

pytestmark = [pytest.mark.slow, pytest.mark.redis]

# A database of its own, flushed before use, so the developer's Redis data is never touched.
REDIS_DB = 11


def test_experiment_runs_to_completion_on_redis_and_a_celery_worker(redis_url: str, tmp_path: Path) -> None:
    broker_url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(broker_url).flushdb()
    port = free_port()
    env = clean_env(
        TRICKLAB_DATA_DIR=str(tmp_path / "data"),
        TRICKLAB_BROKER_URL=broker_url,
        TRICKLAB_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    with process_set(tmp_path / "logs", env) as processes:
        server = processes.start("server", "server", "--port", str(port), "--migrate")
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server)
        worker = processes.start("worker", "worker", "--concurrency", "1")
        worker.wait_for_log("ready.", timeout=90)
        with TricklabClient(url) as client:
            experiment, runs = run_to_completion(client, tiny_spec("redis-e2e"), processes)
            assert_all_succeeded(experiment, runs, processes)
            assert len(runs) == 8  # 4 combinations (2 tricks on/off) x 2 seeds
            assert {r["combo_key"] for r in runs} == {"base", "relu", "batch_norm", "batch_norm+relu"}
            keys = {k["key"]: k for k in client.metric_keys(runs[0]["id"])}
            assert keys["train_loss"]["count"] > 0
            curve = client.metric(runs[0]["id"], "train_loss", max_points=10)
            assert curve["total_points"] == keys["train_loss"]["count"]
            assert len(curve["steps"]) <= 10
        log_text = worker.log_text()
        # One bundle of 8 went out; the worker kept one run (nothing measured yet) and sent 7 on,
        # which it then trained back to back once it knew how short they are.
        assert log_text.count("Task tricklab.train_runs[") >= 2, log_text[-3000:]
        assert worker.alive and server.alive
