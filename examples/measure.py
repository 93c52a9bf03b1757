"""Run example specs through the engine directly (no server) and print mean ± 95% CI per combination.

Usage: python examples/measure.py examples/skip_connection.yaml [...] [--json out.json]
The 95% CI is mean ± t(0.975, n-1) · sd / sqrt(n) over seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import torch
import yaml
from scipy import stats
from tricklab.design import run_configs
from tricklab.schemas.spec import ExperimentSpec, resolve_spec
from tricklab_worker.engine import train_run


class _NullSink:
    def log(self, key: str, step: int, value: float) -> None: ...

    def log_many(self, key: str, steps: list[int], values: list[float]) -> None: ...


class _NeverStop:
    def should_stop(self) -> bool:
        return False

    def set_progress(self, fraction: float) -> None: ...


def mean_ci(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    half = float(stats.t.ppf(0.975, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, half


def measure(path: Path) -> dict[str, object]:
    spec = ExperimentSpec.model_validate(yaml.safe_load(path.read_text()))
    resolved = resolve_spec(spec)
    by_combo: dict[str, list[dict[str, float]]] = {}
    for config in run_configs(resolved):
        outcome = train_run(config, sink=_NullSink(), control=_NeverStop())
        metrics = dict(outcome.final_metrics, status=outcome.status == "succeeded")
        by_combo.setdefault(config.combo_key, []).append(metrics)
        print(
            f"  {path.stem} {config.combo_key} seed {config.seed}: {outcome.status} "
            f"{spec.metric}={outcome.final_metrics.get(spec.metric, math.nan):.4f}",
            file=sys.stderr,
            flush=True,
        )
    keys = [
        spec.metric,
        "test_accuracy",
        "robust_accuracy",
        "ece",
        "mean_confidence",
        "first_layer_grad_norm",
        "snapshot_ensemble_accuracy",
        "minority_recall",
        "balanced_accuracy",
        "hq_share",
        "wall_time",
    ]
    summary: dict[str, dict[str, tuple[float, float]]] = {}
    for combo, runs in by_combo.items():
        summary[combo] = {
            key: mean_ci([r[key] for r in runs]) for key in dict.fromkeys(keys) if all(key in r for r in runs)
        }
    return {"spec": path.name, "metric": spec.metric, "combinations": summary}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("specs", nargs="+", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    for path in args.specs:
        result = measure(path)
        results.append(result)
        print(f"## {path.name} ({result['metric']})")
        for combo, metrics in result["combinations"].items():  # type: ignore[attr-defined]
            shown = ", ".join(f"{k} {m:.3f} ± {h:.3f}" for k, (m, h) in metrics.items())
            print(f"- {combo}: {shown}", flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
