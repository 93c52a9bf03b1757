"""Every benchmark runs end to end in ``--quick`` mode: a smoke test of correctness, no timing asserted.

The scripts check their own results (points stored, buckets exact, runs expanded once, effects
recovered, runs finished); this test only asks that each exits 0 and printed its figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted(p.name for p in (REPO / "benchmarks").glob("bench_*.py"))


def _run(script: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRICKLAB_")}
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=REPO,
        env=env,
    )


@pytest.fixture(scope="module")
def results() -> dict[str, subprocess.CompletedProcess[str]]:
    # Two at a time: most of each script is process start-up and imports, not CPU-bound work.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(BENCHMARKS, pool.map(_run, BENCHMARKS), strict=True))


def test_every_benchmark_is_covered() -> None:
    assert set(BENCHMARKS) == {
        "bench_curve.py",
        "bench_effects.py",
        "bench_expansion.py",
        "bench_ingest.py",
        "bench_instructions.py",
        "bench_page.py",
        "bench_queue.py",
        "bench_training.py",
    }


@pytest.mark.parametrize("script", BENCHMARKS)
def test_quick_mode_runs(script: str, results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    done = results[script]
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "[--quick: smoke test" in done.stdout
    assert "target (" in done.stdout, done.stdout
