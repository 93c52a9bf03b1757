"""Starting tricklab's real processes for tests, and always stopping them.

Every process runs ``python -m tricklab.cli.main ...`` (the installed CLI) in its
own session with its output in a log file, so a failing test can show what each
process said, and teardown can kill a process together with its Celery children.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from tricklab.client import TricklabClient

from tests.conftest import TEST_ADMIN_TOKEN

TINY_BASE = {"epochs": 1, "depth": 2, "width": 32, "batch_size": 64}


def tiny_spec(
    name: str, factors: Sequence[str] = ("relu", "batch_norm"), seeds: int = 2, **base: Any
) -> dict[str, Any]:
    """A digits experiment that trains in well under a second per run."""
    return {"name": name, "task": "digits", "base": {**TINY_BASE, **base}, "factors": list(factors), "seeds": seeds}


def clean_env(**overrides: str) -> dict[str, str]:
    """This environment without the developer's own TRICKLAB_* settings, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRICKLAB_")}
    env.update(PYTHONUNBUFFERED="1", TRICKLAB_QUEUE_NAME=f"tricklab-test-{uuid.uuid4().hex[:8]}")
    # Servers bootstrap the suite's admin token; CLI subprocesses send it.
    env.update(TRICKLAB_ADMIN_TOKEN=TEST_ADMIN_TOKEN, TRICKLAB_TOKEN=TEST_ADMIN_TOKEN)
    if os.environ.get("TRICKLAB_CONFIG_DIR"):  # the suite's scratch config dir, not the developer's
        env["TRICKLAB_CONFIG_DIR"] = os.environ["TRICKLAB_CONFIG_DIR"]
    env.update(overrides)
    return env


class TricklabProcess:
    """One ``tricklab`` subprocess with its log."""

    def __init__(self, name: str, args: Sequence[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "tricklab.cli.main", *args],
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def describe(self, tail: int = 4000) -> str:
        return f"--- {self.name} (pid {self.popen.pid}, exit {self.popen.poll()}) ---\n{self.log_text()[-tail:]}"

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            if not self.alive:
                raise AssertionError(f"{self.name} exited before logging {text!r}\n{self.describe()}")
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not log {text!r} within {timeout} s\n{self.describe()}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait (a clean shutdown is part of what is tested), then SIGKILL the whole group."""
        if self.alive:
            with suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        self._log.close()
        return self.popen.returncode


class ProcessSet:
    """The processes of one test; ``logs()`` for failure messages."""

    def __init__(self, log_dir: Path, env: Mapping[str, str]) -> None:
        self.log_dir = log_dir
        self.env = dict(env)
        self.processes: list[TricklabProcess] = []

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> TricklabProcess:
        process = TricklabProcess(name, args, {**self.env, **(env or {})}, self.log_dir)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(p.describe() for p in self.processes)

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@contextmanager
def process_set(log_dir: Path, env: Mapping[str, str]) -> Iterator[ProcessSet]:
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = ProcessSet(log_dir, env)
    try:
        yield processes
    finally:
        processes.stop_all()


def wait_healthy(url: str, process: TricklabProcess, timeout: float = 60.0) -> None:
    """Until ``url``/healthz answers ok (the server imported, migrated and bound its port)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive:
            raise AssertionError(f"{process.name} exited during start-up\n{process.describe()}")
        with suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} not healthy within {timeout} s\n{process.describe()}")


def run_to_completion(
    client: TricklabClient, spec: Mapping[str, Any], processes: ProcessSet, timeout: float = 120.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Submit ``spec`` through the REST API and wait until every run is terminal."""
    created = client.create_experiment(spec)
    try:
        experiment = client.wait(created["id"], timeout=timeout, poll_seconds=0.5)
    except TimeoutError as exc:
        runs = client.runs(created["id"])
        raise AssertionError(f"{exc}; runs: {[(r['id'], r['status']) for r in runs]}\n{processes.logs()}") from None
    return experiment, client.runs(created["id"])


def assert_all_succeeded(experiment: dict[str, Any], runs: list[dict[str, Any]], processes: ProcessSet) -> None:
    failures = [(r["id"], r["status"], r.get("error")) for r in runs if r["status"] != "succeeded"]
    assert not failures, f"runs not succeeded: {failures}\n{processes.logs()}"
    assert experiment["status"] == "finished"
    assert experiment["counts"]["succeeded"] == experiment["n_runs"] == len(runs)
    for run in runs:
        assert 0.0 <= run["final_metrics"]["test_accuracy"] <= 1.0
        assert run["attempt"] == 1
        assert run["worker_id"]
