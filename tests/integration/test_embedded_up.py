"""``tricklab up``: the server with its embedded worker and broker (no Redis), supervised."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from tricklab.client import TricklabClient

from tests.conftest import free_port
from tests.integration.processes import (
    TricklabProcess,
    assert_all_succeeded,
    clean_env,
    process_set,
    run_to_completion,
    tiny_spec,
    wait_healthy,
)

pytestmark = [pytest.mark.slow]


def worker_pids(up: TricklabProcess) -> list[int]:
    """The embedded worker processes ``tricklab up`` started (its direct children)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == up.popen.pid and b"worker" in cmdline:
            pids.append(int(entry.name))
    return pids


def test_up_runs_an_experiment_and_restarts_a_dead_worker(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    with process_set(tmp_path / "logs", clean_env()) as processes:
        up = processes.start("up", "up", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir))
        wait_healthy(url, up)
        up.wait_for_log(f"tricklab is running: {url}/", timeout=30)
        up.wait_for_log("ready.", timeout=90)
        assert (data_dir / "tricklab.sqlite").exists()
        assert (data_dir / "broker.sqlite").exists()

        with TricklabClient(url) as client:
            experiment, runs = run_to_completion(client, tiny_spec("embedded-e2e"), processes)
            assert_all_succeeded(experiment, runs, processes)
            assert len(runs) == 8

            # A worker that dies (OOM killer, segfault) is replaced; new work still gets done.
            (first,) = worker_pids(up)
            os.killpg(first, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and worker_pids(up) in ([], [first]):
                time.sleep(0.2)
            assert worker_pids(up) not in ([], [first]), processes.logs()
            assert "restarting" in up.log_text()
            experiment, runs = run_to_completion(
                client, tiny_spec("after-restart", factors=["relu"], seeds=1), processes
            )
            assert_all_succeeded(experiment, runs, processes)

        children = worker_pids(up)
        assert up.stop() == 0, processes.logs()
        for pid in children:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
