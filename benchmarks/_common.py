"""Shared by the benchmark scripts: arguments, interleaved repetitions, summaries and a migrated store.

Every benchmark measures its subject and its reference alternately in the same process
(ABAB...), so load from other processes on the shared cores hits both alike, and reports
the median with min–max over the repetitions. ``--quick`` shrinks every size so the
script finishes in seconds: a smoke test of correctness, never a measurement.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

ADMIN_TOKEN = "tricklab-benchmark-admin-token"
# Harmless before authentication lands; after it, create_app bootstraps this token.
os.environ.setdefault("TRICKLAB_ADMIN_TOKEN", ADMIN_TOKEN)
AUTH = {"Authorization": f"Bearer {os.environ['TRICKLAB_ADMIN_TOKEN']}"}
POSTGRES_URL = os.environ.get("TRICKLAB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes, one repetition: a smoke test, not a measurement")
    p.add_argument("--repeats", type=int, default=7, help="interleaved repetitions (median of these)")
    return p


@dataclass
class Summary:
    """Median and range of repeated measurements."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def fmt(self, unit: str = "", digits: int = 3) -> str:
        lo, hi = min(self.values), max(self.values)
        return f"{self.median:.{digits}g}{unit} (min {lo:.{digits}g}, max {hi:.{digits}g}, n={len(self.values)})"


def interleaved(repeats: int, **subjects: Callable[[], float]) -> dict[str, Summary]:
    """Run each subject once per round, alternating the order every round; each returns its own figure."""
    names = list(subjects)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            out[name].append(subjects[name]())
    return {n: Summary(v) for n, v in out.items()}


def ratios(a: Summary, b: Summary) -> Summary:
    """Per-round ratio a/b (the rounds were interleaved, so each pair saw the same load)."""
    return Summary([x / y for x, y in zip(a.values, b.values, strict=True)])


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def header(title: str, quick: bool) -> None:
    load = os.getloadavg()
    print(f"== {title}{'  [--quick: smoke test, figures are not measurements]' if quick else ''}")
    print(f"   {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load avg {load[0]:.2f}")
    print(f"   host steadiness before: {host_steadiness(10 if quick else 200)}")


def verdict(name: str, ok: bool, detail: str) -> None:
    print(f"   host steadiness after: {host_steadiness(200)}")
    print(f"   {name}: {'MEETS' if ok else 'MISSES'} target ({detail})")


def _fixed_workload() -> int:
    total = 0
    for i in range(20_000):
        total += i * i
    return total


def host_steadiness(samples: int) -> str:
    """How steadily this host runs now: one fixed pure-Python workload, timed ``samples`` times back to back.

    On a shared virtual machine the same work can take twice as long from one tenth of a second
    to the next (seen on the 2-core development machine: 2.5 ms and 4.4 ms phases of ~50-100 ms,
    issue 7); printed beside the figures so a reader knows how far apart repeated rounds can be.
    """
    times = []
    for _ in range(max(1, samples)):
        t0 = time.perf_counter()
        _fixed_workload()
        times.append(time.perf_counter() - t0)
    times.sort()
    fastest, median, p90 = times[0], times[len(times) // 2], times[int(len(times) * 0.9)]
    return (
        f"a fixed {fastest * 1e3:.1f} ms workload took {median / fastest:.2f}x that"
        f" at the median and {p90 / fastest:.2f}x at p90 (1.00x: steady)"
    )


@contextmanager
def sqlite_url() -> Iterator[str]:
    """A migrated SQLite store in a temporary directory."""
    from tricklab.db.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="tricklab-bench-") as d:
        url = f"sqlite:///{Path(d) / 'bench.sqlite'}"
        upgrade(url)
        yield url


@contextmanager
def postgres_url(server_url: str = POSTGRES_URL) -> Iterator[str | None]:
    """A fresh migrated PostgreSQL database, or None when no server answers."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError
    from tricklab.db.migrate import upgrade

    name = f"tricklab_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        admin.dispose()
        yield None
        return
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


TINY_SPEC = {
    "name": "bench",
    "task": "digits",
    "base": {"epochs": 1, "depth": 2, "width": 32, "batch_size": 64},
    "factors": [],
    "seeds": 1,
}


@contextmanager
def api_client(database_url: str) -> Iterator[TestClient]:
    """The real app (create_app) on ``database_url`` behind Starlette's in-process HTTP client, authenticated."""
    import warnings

    from tricklab.api.app import create_app
    from tricklab.config import Settings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's note that it prefers httpx2
        from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory(prefix="tricklab-bench-data-") as d:
        settings = Settings(data_dir=Path(d), database_url=database_url, broker_url="memory://")
        app = create_app(settings, start_reaper=False)
        with TestClient(app, headers=AUTH) as client:
            yield client


def claimed_run(client: TestClient) -> int:
    """Create a one-run experiment through the API and claim its run as attempt 1; returns the run id."""
    created = client.post("/api/v1/experiments", json=TINY_SPEC)
    created.raise_for_status()
    runs = client.get(f"/api/v1/experiments/{created.json()['id']}/runs").json()
    run_id = int(runs["items"][0]["id"])
    client.post(f"/api/v1/runs/{run_id}/claim", json={"attempt": 1, "worker_id": "bench"}).raise_for_status()
    return run_id


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base: str, log_path: Path, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Return once ``base``/healthz answers 200; raise with the log's tail if it dies or time runs out."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(log_path.read_text()[-3000:])
        time.sleep(0.2)


def start_tricklab(
    args: list[str], *, env: dict[str, str], log_path: Path, timeout: float = 60
) -> tuple[subprocess.Popen[bytes], str]:
    """``tricklab <args> --host 127.0.0.1 --port <free>`` in its own session, once healthy: the process and its URL."""
    port = free_port()
    exe = Path(sys.executable).parent / "tricklab"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), *args, "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, log_path, timeout, proc)
    except BaseException:
        stop_tricklab(proc)
        raise
    return proc, base


def stop_tricklab(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM to the process group (server and any worker it supervises), then wait."""
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=timeout)
