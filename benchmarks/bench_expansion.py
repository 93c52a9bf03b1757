"""Design expansion: 13 binary factors, full factorial x 3 seeds, conflicts excluded, expanded and inserted once.

No built-in task takes all 13 tricks (``wgan`` applies only to GAN tasks, nine others only to
classifiers), so the 13 factors are the 12 tricks that apply to ``digits`` plus one two-level
base factor (``lr`` 0.05 | 0.1): 2^13 combinations minus the 2^11 with both ``batch_norm`` and
``group_norm`` = 6,144 combinations x 3 seeds = 18,432 runs.

Subject: ``POST /api/v1/experiments`` through the real app on SQLite (expand, insert every run,
commit, hand the run ids to the queue), with a producer stub that only counts messages, so the
figure is the server's work. Checks: exactly one run per (combination, seed), one message per run.
Also measured: how fast the embedded broker (kombu SQLAlchemy transport on SQLite) accepts those
messages, which is what the background dispatcher then spends. Target: <= 2 s.

    python benchmarks/bench_expansion.py
    python benchmarks/bench_expansion.py --quick
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Summary, api_client, header, parser, sqlite_url, verdict
from tricklab.catalog.tricks import TRICKS

TARGET_S = 2.0
# wgan applies only to GAN tasks: every other trick applies to digits.
DIGITS_TRICKS = [name for name, trick in TRICKS.items() if "classification" in trick.applies_to]


class CountingProducer:
    """Takes the place of the Celery producer: counts how often each run is sent (bundles unpacked), sends nothing."""

    def __init__(self) -> None:
        self.sent: Counter[int] = Counter()
        self.messages = 0

    def send_task(self, name: str, args: list[Any] | None = None, **_kw: Any) -> Any:
        from tricklab.queue import TRAIN_RUNS_TASK

        args = args or [0, []]
        runs = [run_id for run_id, _attempt in args[1]] if name == TRAIN_RUNS_TASK else [args[0]]
        self.sent.update(int(run_id) for run_id in runs)
        self.messages += 1
        return type("Result", (), {"id": None})()


def spec(n_tricks: int, seeds: int) -> dict[str, Any]:
    return {
        "name": f"expansion-{n_tricks}+lr",
        "task": "digits",
        "base": {"epochs": 1},
        "factors": [*DIGITS_TRICKS[:n_tricks], {"lr": [0.05, 0.1]}],
        "seeds": seeds,
    }


def expected_runs(n_tricks: int, seeds: int) -> int:
    tricks = DIGITS_TRICKS[:n_tricks]
    both_norms = 2 ** (n_tricks - 2) if {"batch_norm", "group_norm"} <= set(tricks) else 0
    return int((2**n_tricks - both_norms) * 2 * seeds)


def create_once(body: dict[str, Any]) -> tuple[float, int, int]:
    """One POST on a fresh store, its runs and messages checked; returns (seconds, runs, messages)."""
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, func, select
    from tricklab.db.models import Run

    with sqlite_url() as url, api_client(url) as client:
        assert isinstance(client, TestClient)
        producer = CountingProducer()
        client.app.state.celery = producer  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        response = client.post("/api/v1/experiments", json=body)
        elapsed = time.perf_counter() - t0
        assert response.status_code == 201, response.text
        n_runs = int(response.json()["n_runs"])
        deadline = time.monotonic() + 60
        while sum(producer.sent.values()) < n_runs and time.monotonic() < deadline:
            time.sleep(0.01)  # messages may go out after the response (background dispatch)
        engine = create_engine(url)
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(Run))
            distinct = conn.scalar(
                select(func.count()).select_from(select(Run.combo_key, Run.seed).distinct().subquery())
            )
            ids = set(conn.scalars(select(Run.id)))
        engine.dispose()
    assert stored == distinct == n_runs, (stored, distinct, n_runs)
    assert set(producer.sent) == ids and set(producer.sent.values()) == {1}, "every run dispatched exactly once"
    return elapsed, n_runs, producer.messages


def broker_rate(n_messages: int) -> float:
    """Messages per second the embedded SQLite broker accepts through ``dispatch_all``."""
    from tricklab.config import Settings
    from tricklab.queue import make_celery
    from tricklab.services.experiments import dispatch_all

    with tempfile.TemporaryDirectory(prefix="tricklab-bench-broker-") as d:
        app = make_celery(Settings(data_dir=Path(d)))
        dispatch_all(app, [(0, 1)])  # connect and create the broker's tables outside the timing
        t0 = time.perf_counter()
        sent = dispatch_all(app, [(i, 1) for i in range(1, n_messages + 1)])
        elapsed = time.perf_counter() - t0
        app.close()
    assert sent == n_messages
    return n_messages / elapsed


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--broker-messages", type=int, default=2_000, help="messages sent to the embedded broker")
    args = p.parse_args()
    n_tricks, seeds, repeats = (4, 2, 1) if args.quick else (12, 3, args.repeats)
    body = spec(n_tricks, seeds)
    header(f"design expansion: {n_tricks} tricks + lr levels, full factorial x {seeds} seeds", args.quick)
    times: list[float] = []
    for _ in range(repeats):
        elapsed, n_runs, n_messages = create_once(body)
        assert n_runs == expected_runs(n_tricks, seeds), (n_runs, expected_runs(n_tricks, seeds))
        times.append(elapsed)
    result = Summary(times)
    print(f"   {n_runs} runs; POST /api/v1/experiments (expand + insert + commit): {result.fmt(' s')}")
    rate = broker_rate(50 if args.quick else args.broker_messages)
    print(
        f"   embedded broker accepts {rate:.0f} messages/s: the {n_messages} messages of {n_runs} runs"
        f" (bundles of up to 64) take ~{n_messages / rate:.1f} s (one message per run: ~{n_runs / rate:.0f} s)"
    )
    verdict("expansion", result.median <= TARGET_S, f"median {result.median:.2f} s vs <= 2 s")


if __name__ == "__main__":
    main()
