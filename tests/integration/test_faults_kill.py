"""SIGKILL a worker (whole, or only its pool child) mid-run at several points: every run completes, resumed.

Real processes: the API server (with its reaper) on SQLite, Redis as the broker
(a database and queue of its own), ``tricklab worker`` Celery processes. A killed
attempt's lease expires (3 s), the reaper re-dispatches the run as the next
attempt, and a worker resumes it from its last checkpoint.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import redis
from tricklab.client import TricklabClient

from tests.conftest import free_port
from tests.integration.faults import (
    ADMIN_TOKEN,
    CHECKPOINT_EVERY,
    STEPS,
    audit,
    children,
    fault_env,
    kill_group,
    kill_pool_child,
    max_step,
    record,
    running_run,
    slow_spec,
    wait_until,
)
from tests.integration.processes import process_set, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.redis]

REDIS_DB = 12
# (what is killed, the train_loss step the running run must have reached first)
UP_STEPS = 36
KILL_POINTS = [("worker", 12), ("pool child", 27), ("worker", 41), ("pool child", 52)]


def test_killed_workers_lose_nothing_and_runs_resume_from_checkpoints(redis_url: str, tmp_path: Path) -> None:
    broker_url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(broker_url).flushdb()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = fault_env(tmp_path / "data", TRICKLAB_BROKER_URL=broker_url)
    database_url = f"sqlite:///{tmp_path / 'data' / 'tricklab.sqlite'}"
    with process_set(tmp_path / "logs", env) as processes:
        server = processes.start("server", "server", "--port", str(port), "--migrate")
        wait_healthy(url, server)
        worker = processes.start("worker0", "worker")
        worker.wait_for_log("ready.", timeout=90)
        with TricklabClient(url, token=ADMIN_TOKEN) as client:
            created = client.create_experiment(slow_spec("kill-points", factors=["relu"], seeds=1))
            experiment_id = created["id"]
            killed: list[tuple[str, int, int]] = []
            for index, (what, step) in enumerate(KILL_POINTS):

                def reached(step: int = step) -> tuple[int, str] | None:
                    held = running_run(database_url, experiment_id)
                    return held if held and step <= max_step(database_url, held[0]) < STEPS - 3 else None

                run_id, _ = wait_until(reached, 90, f"a run at step >= {step}", processes.logs)
                at = max_step(database_url, run_id)
                if what == "worker":
                    kill_group(worker)
                    worker = processes.start(f"worker{index + 1}", "worker")
                else:
                    kill_pool_child(worker)
                killed.append((what, run_id, at))

            experiment = client.wait(experiment_id, timeout=150, poll_seconds=0.5)
            runs = {r["id"]: r for r in client.runs(experiment_id)}

        result = audit(database_url, experiment_id, steps=STEPS)
        summary = record("kill", len(killed), result, kill_points=killed)
        assert result.clean, f"{summary}\n{processes.logs()}"
        assert experiment["status"] == "finished", summary
        for what, run_id, at in killed:
            run = runs[run_id]
            assert run["status"] == "succeeded", f"{what} killed at step {at}: {run}\n{summary}"
            # Every kill cost the run one attempt, visible in its API representation.
            assert run["attempt"] >= 2 and len(run["attempts"]) == run["attempt"], run
            assert run["attempts"][0]["outcome"] == "lost", run["attempts"]
            resumed = [a["resumed_from_step"] or 0 for a in run["attempts"][1:]]
            # Each later attempt resumed from a checkpoint (every few steps), never from scratch.
            assert all(s >= CHECKPOINT_EVERY for s in resumed), (what, at, run["attempts"])
            assert result.resumed_from[run_id][1:] == resumed
        assert worker.alive, processes.logs()


def test_up_restarts_its_killed_worker_and_the_run_resumes(tmp_path: Path) -> None:
    """``tricklab up`` (embedded broker, SQLite): its supervised worker is SIGKILLed mid-run."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    database_url = f"sqlite:///{data_dir / 'tricklab.sqlite'}"
    with process_set(tmp_path / "logs", fault_env(data_dir)) as processes:
        up = processes.start("up", "up", "--port", str(port), "--data-dir", str(data_dir), "--no-browser")
        wait_healthy(url, up)  # migrated on start: the embedded mode needs no separate step
        up.wait_for_log("ready.", timeout=90)
        with TricklabClient(url, token=ADMIN_TOKEN) as client:
            created = client.create_experiment(slow_spec("up-kill", factors=["relu"], seeds=1, steps=UP_STEPS))

            def reached() -> tuple[int, str] | None:
                held = running_run(database_url, created["id"])
                return held if held and 12 <= max_step(database_url, held[0]) < UP_STEPS - 3 else None

            run_id, _ = wait_until(reached, 90, "a run at step >= 12", processes.logs)
            (worker_pid,) = children(up.popen.pid)
            os.killpg(worker_pid, signal.SIGKILL)
            experiment = client.wait(created["id"], timeout=120, poll_seconds=0.5)
            run = client.run(run_id)
        result = audit(database_url, created["id"], steps=UP_STEPS)
        summary = record("up_kill", 1, result)
        assert result.clean and experiment["status"] == "finished", f"{summary}\n{processes.logs()}"
        assert "restarting" in up.log_text(), up.log_text()
        assert run["attempt"] == 2 and (run["attempts"][1]["resumed_from_step"] or 0) >= CHECKPOINT_EVERY, run
