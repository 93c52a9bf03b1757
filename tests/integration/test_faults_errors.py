"""A run whose training raises and one whose loss becomes NaN: right terminal state and reason; the worker goes on.

The embedded broker and SQLite (the ``tricklab up`` stack, as separate processes).
The raising run is a real fault injected into the store: its config names a task
that does not exist, written after the experiment was created and before any
worker started.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tricklab.client import TricklabClient

from tests.conftest import free_port
from tests.integration.faults import ADMIN_TOKEN, Audit, fault_env, record
from tests.integration.processes import process_set, tiny_spec, wait_healthy

pytestmark = [pytest.mark.slow]


def test_raising_and_diverging_runs_end_right_and_the_worker_goes_on(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = fault_env(tmp_path / "data")
    database_url = f"sqlite:///{tmp_path / 'data' / 'tricklab.sqlite'}"
    with process_set(tmp_path / "logs", env) as processes:
        server = processes.start("server", "server", "--port", str(port), "--migrate")
        wait_healthy(url, server)
        with TricklabClient(url, token=ADMIN_TOKEN) as client:
            # lr 50 on a deep ReLU net: the loss overflows within a few steps.
            bad = client.create_experiment(
                tiny_spec("bad", factors=["relu"], seeds=1, lr=50.0, depth=6, width=64, max_steps=100)
            )
            good = client.create_experiment(tiny_spec("good", factors=["relu"], seeds=1))
            bad_runs = {r["combo_key"]: r for r in client.runs(bad["id"])}
            engine = create_engine(database_url)
            with engine.begin() as conn:
                config = conn.execute(text("SELECT config FROM runs WHERE id = :r"), {"r": bad_runs["base"]["id"]})
                broken = config.scalar_one().replace('"task": "digits"', '"task": "no_such_task"')
                assert "no_such_task" in broken
                conn.execute(
                    text("UPDATE runs SET config = :c WHERE id = :r"), {"c": broken, "r": bad_runs["base"]["id"]}
                )
            engine.dispose()

            worker = processes.start("worker", "worker")
            worker.wait_for_log("ready.", timeout=90)
            client.wait(bad["id"], timeout=90, poll_seconds=0.3)
            client.wait(good["id"], timeout=90, poll_seconds=0.3)
            raised = client.run(bad_runs["base"]["id"])
            diverged = client.run(bad_runs["relu"]["id"])
            after = client.runs(good["id"])

        summary = record(
            "errors",
            2,
            Audit(runs=len(after), runs_lost=sum(r["status"] != "succeeded" for r in after)),
            raised=raised["status"],
            diverged=diverged["status"],
        )
        assert raised["status"] == "failed", (raised, processes.logs())
        assert ": " in raised["error"], raised["error"]  # "ExceptionType: message"
        assert "no_such_task" in raised["error"], raised["error"]
        assert raised["attempt"] == 1, raised  # failed, not retried
        assert diverged["status"] == "diverged", (diverged, processes.logs())
        assert "non-finite" in diverged["error"] and diverged["attempt"] == 1, diverged
        # The same worker process trained the next experiment's runs.
        assert all(r["status"] == "succeeded" for r in after), (summary, processes.logs())
        assert worker.alive and len({r["worker_id"] for r in after}) == 1, processes.logs()
