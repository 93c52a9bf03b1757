"""A run longer than Redis' visibility timeout (2 s here) is never trained twice at once.

Redis hands the still-unacknowledged message to the other worker while the first
trains it; the second worker's claim fails on the SQL lease and it drops the
message. Audit: one attempt per run, no overlapping attempts, each step once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis
from tricklab.client import TricklabClient

from tests.conftest import free_port
from tests.integration.faults import ADMIN_TOKEN, audit, fault_env, record, slow_spec, wait_until
from tests.integration.processes import process_set, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.redis]

REDIS_DB = 13
STEPS = 70  # about 5 s a run: longer than the 2 s visibility timeout
REVOKED = "Discarding revoked task"
SKIPPED = "finished or held by another attempt; nothing to do"


def test_redelivery_after_the_visibility_timeout_never_trains_a_run_twice(redis_url: str, tmp_path: Path) -> None:
    broker_url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(broker_url).flushdb()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = fault_env(tmp_path / "data", TRICKLAB_BROKER_URL=broker_url, TRICKLAB_BROKER_VISIBILITY_SECONDS="2")
    database_url = f"sqlite:///{tmp_path / 'data' / 'tricklab.sqlite'}"
    with process_set(tmp_path / "logs", env) as processes:
        server = processes.start("server", "server", "--port", str(port), "--migrate")
        wait_healthy(url, server)
        workers = [processes.start(f"worker{i}", "worker") for i in range(2)]
        for worker in workers:
            worker.wait_for_log("ready.", timeout=90)
        with TricklabClient(url, token=ADMIN_TOKEN) as client:
            created = client.create_experiment(slow_spec("visibility", factors=["relu"], seeds=1, steps=STEPS))
            client.wait(created["id"], timeout=120, poll_seconds=0.5)
            runs = client.runs(created["id"])

            # Cancelling: the two running runs stop at their next heartbeat; the queued message
            # (the bundle of the two runs not started: each worker kept one run of the experiment's
            # bundle of four and sent the rest on) is revoked, so no worker claims from it.
            cancelling = client.create_experiment(slow_spec("cancel", ["relu", "batch_norm"], steps=400))

            def both_running() -> bool:
                return sum(r["status"] == "running" for r in client.runs(cancelling["id"])) == 2

            wait_until(both_running, 60, "two running runs", processes.logs)
            asked = time.monotonic()
            client.cancel_experiment(cancelling["id"])

            def all_cancelled() -> list[dict[str, Any]] | None:
                found = client.runs(cancelling["id"])
                return found if all(r["status"] == "cancelled" for r in found) else None

            stopped = wait_until(all_cancelled, 20, "every run cancelled", processes.logs)
            took = time.monotonic() - asked
            wait_until(
                lambda: sum(w.log_text().count(REVOKED) for w in workers) >= 1, 20, "revoked messages", processes.logs
            )
        result = audit(database_url, created["id"], steps=STEPS)
        redeliveries = sum(w.log_text().count(SKIPPED) for w in workers)
        summary = record("visibility", redeliveries, result)
        assert result.clean, f"{summary}\n{processes.logs()}"
        assert all(r["attempt"] == 1 and len(r["attempts"]) == 1 for r in runs), (summary, runs)
        # The fault did happen: Redis redelivered running runs' messages at least once.
        assert redeliveries >= 1, f"{summary}\n{processes.logs()}"
        assert took < 5, f"cancelling took {took:.1f} s"
        assert (
            sorted(r["error"].split(" at ")[0] for r in stopped)
            == ["cancelled", "cancelled"] + ["cancelled before it started"] * 2
        ), stopped
