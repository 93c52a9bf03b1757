"""Shared plumbing of the fault-injection tests: short lease settings, slow-enough runs, and the audit.

The audit reads the store directly (not the API) so it sees exactly what was
written: runs not ``succeeded`` are *lost*, runs trained by two live attempts at
once are *duplicated*, and every run's ``train_loss`` must hold steps 1..N exactly
once. Each test writes its fault and audit counts to ``test-artifacts/faults``
(docs/RELIABILITY.md quotes them).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.conftest import ARTIFACTS_DIR
from tests.integration.processes import TricklabProcess, clean_env, tiny_spec

ADMIN_TOKEN = "fault-tests-admin-token"
# A wide MLP so one step takes tens of ms: a run lasts seconds, long enough to be killed mid-way.
SLOW_BASE = {"epochs": 50, "depth": 4, "width": 1024, "batch_size": 128}
STEPS = 60
CHECKPOINT_EVERY = 5


def fault_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """Short leases, heartbeats, checkpoints and re-dispatch delays so that faults heal in seconds."""
    settings = {
        "TRICKLAB_DATA_DIR": str(data_dir),
        "TRICKLAB_LEASE_SECONDS": "3",
        "TRICKLAB_HEARTBEAT_SECONDS": "0.5",
        "TRICKLAB_UNCLAIMED_REDISPATCH_SECONDS": "6",
        "TRICKLAB_CHECKPOINT_EVERY_STEPS": str(CHECKPOINT_EVERY),
        "TRICKLAB_METRICS_FLUSH_SECONDS": "0.2",
        "TRICKLAB_MAX_ATTEMPTS": "10",
        "TRICKLAB_WORKER_THREADS": "1",
        "TRICKLAB_ADMIN_TOKEN": ADMIN_TOKEN,
        "TRICKLAB_TOKEN": ADMIN_TOKEN,
    }
    return clean_env(**{**settings, **overrides})


def slow_spec(name: str, factors: Iterable[str] = ("relu",), seeds: int = 1, steps: int = STEPS) -> dict[str, Any]:
    return tiny_spec(name, factors=list(factors), seeds=seeds, **{**SLOW_BASE, "max_steps": steps})


@dataclass
class Audit:
    """What the store holds for one experiment, against what it should hold."""

    runs: int = 0
    runs_lost: int = 0
    runs_duplicated: int = 0
    steps_missing: int = 0
    steps_duplicated: int = 0
    attempts: dict[int, int] = field(default_factory=dict)
    resumed_from: dict[int, list[int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.runs_lost or self.runs_duplicated or self.steps_missing or self.steps_duplicated)

    def counts(self) -> str:
        return (
            f"runs={self.runs} lost={self.runs_lost} duplicated={self.runs_duplicated} "
            f"steps_missing={self.steps_missing} steps_duplicated={self.steps_duplicated}"
        )


def _seconds(value: datetime | str) -> float:
    # Raw SQL gives SQLite's timestamps as ISO strings and PostgreSQL's as datetimes.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()


def _overlapping(intervals: list[tuple[float, float]]) -> bool:
    ordered = sorted(intervals)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(ordered))


def audit(database_url: str, experiment_id: int, *, steps: int, key: str = "train_loss") -> Audit:
    """Count lost and duplicated runs and missing/duplicated metric steps of ``experiment_id``."""
    engine = create_engine(database_url)
    result = Audit()
    try:
        with engine.connect() as conn:
            runs = conn.execute(
                text("SELECT id, status, attempt, error FROM runs WHERE experiment_id = :e ORDER BY id"),
                {"e": experiment_id},
            ).all()
            result.runs = len(runs)
            for run_id, status, attempt, error in runs:
                result.attempts[run_id] = attempt
                if status != "succeeded":
                    result.runs_lost += 1
                    result.problems.append(f"run {run_id} ended {status}: {error}")
                rows = conn.execute(
                    text(
                        "SELECT attempt, started_at, ended_at, outcome, resumed_from_step FROM run_attempts "
                        "WHERE run_id = :r ORDER BY attempt"
                    ),
                    {"r": run_id},
                ).all()
                result.resumed_from[run_id] = [r.resumed_from_step or 0 for r in rows]
                # Two attempts that both ended "succeeded", or that ran at the same time and both
                # wrote a result, would be a run trained twice. A lost attempt ended when its lease
                # expired, before the next one started (the claim requires the expiry).
                if sum(1 for r in rows if r.outcome == "succeeded") > 1:
                    result.runs_duplicated += 1
                    result.problems.append(f"run {run_id} succeeded in several attempts")
                spans = [(_seconds(r.started_at), _seconds(r.ended_at or r.started_at)) for r in rows]
                if _overlapping(spans):
                    result.runs_duplicated += 1
                    result.problems.append(f"run {run_id} has overlapping attempts {spans}")
                if len(rows) != attempt:
                    result.problems.append(f"run {run_id}: attempt {attempt} but {len(rows)} attempt rows")
                counted = dict(
                    conn.execute(
                        text("SELECT step, COUNT(*) FROM metrics WHERE run_id = :r AND key = :k GROUP BY step"),
                        {"r": run_id, "k": key},
                    ).all()
                )
                missing = [s for s in range(1, steps + 1) if s not in counted]
                result.steps_missing += len(missing)
                result.steps_duplicated += sum(n - 1 for n in counted.values() if n > 1)
                if missing:
                    result.problems.append(f"run {run_id} misses {key} steps {missing[:10]}...")
    finally:
        engine.dispose()
    return result


def record(test: str, faults: int, result: Audit, **extra: Any) -> str:
    """Write this test's counts for docs/RELIABILITY.md; return them as one line for assertion messages."""
    out = ARTIFACTS_DIR / "faults"
    out.mkdir(parents=True, exist_ok=True)
    data = {"test": test, "faults": faults, **asdict(result), **extra}
    data.pop("problems")
    (out / f"{test}.json").write_text(json.dumps(data, indent=1, default=str))
    return f"{test}: faults={faults} {result.counts()} problems={result.problems}"


def wait_until(condition: Callable[[], Any], timeout: float, what: str, logs: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs()}")


def max_step(database_url: str, run_id: int, key: str = "train_loss") -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            value = conn.execute(
                text("SELECT MAX(step) FROM metrics WHERE run_id = :r AND key = :k"), {"r": run_id, "k": key}
            ).scalar()
    finally:
        engine.dispose()
    return int(value or 0)


def running_run(database_url: str, experiment_id: int) -> tuple[int, str] | None:
    """(run id, worker id) of a run now training, if any."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT id, worker_id FROM runs WHERE experiment_id = :e AND status = 'running' ORDER BY id"),
                {"e": experiment_id},
            ).first()
    finally:
        engine.dispose()
    return (int(row[0]), str(row[1])) if row else None


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (a Celery worker's pool processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def kill_group(process: TricklabProcess) -> None:
    """SIGKILL a worker with its pool: what a crashed machine or the OOM killer does."""
    os.killpg(process.popen.pid, signal.SIGKILL)
    process.popen.wait(timeout=10)


def kill_pool_child(process: TricklabProcess) -> int:
    """SIGKILL only the pool process that trains (Celery's main process survives and forks a new one)."""
    (child,) = children(process.popen.pid)
    os.kill(child, signal.SIGKILL)
    return child
