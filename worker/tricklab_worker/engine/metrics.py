"""Metrics kept on the device between flushes, and the final-metric formulas (ECE, imbalance scores)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import average_precision_score
from torch import Tensor

from tricklab_worker.engine.context import MetricSink

# lr and counters are bookkeeping; any other non-finite value means the run diverged.
NOT_DIVERGENCE_SIGNALS = frozenset({"lr", "critic_steps"})


@dataclass(frozen=True)
class Divergence:
    step: int
    key: str

    def message(self) -> str:
        return f"non-finite {self.key} at step {self.step}"


class MetricBuffer:
    """Collects points as device tensors and hands them to the sink in one host transfer per flush."""

    def __init__(self, sink: MetricSink) -> None:
        self.sink = sink
        self._tensor_points: list[tuple[str, int, Tensor]] = []
        self._float_points: list[tuple[str, int, float]] = []

    def add(self, key: str, step: int, value: Tensor | float) -> None:
        if isinstance(value, Tensor):
            self._tensor_points.append((key, step, value.detach().reshape(())))
        else:
            self._float_points.append((key, step, float(value)))

    def flush(self) -> tuple[dict[str, list[tuple[int, float]]], Divergence | None]:
        """Send everything pending; return it by key and the first non-finite diverging value, if any."""
        points = list(self._float_points)
        if self._tensor_points:
            values = torch.stack([value.float() for _, _, value in self._tensor_points]).cpu().tolist()
            points += [(key, step, value) for (key, step, _), value in zip(self._tensor_points, values, strict=True)]
        self._tensor_points.clear()
        self._float_points.clear()
        by_key: dict[str, list[tuple[int, float]]] = {}
        for key, step, value in points:
            by_key.setdefault(key, []).append((step, value))
        divergence: Divergence | None = None
        for key, series in by_key.items():
            series.sort()
            self.sink.log_many(key, [s for s, _ in series], [v for _, v in series])
            if key in NOT_DIVERGENCE_SIGNALS:
                continue
            bad = next(((s, key) for s, v in series if not math.isfinite(v)), None)
            if bad is not None and (divergence is None or bad[0] < divergence.step):
                divergence = Divergence(step=bad[0], key=key)
        return by_key, divergence


def expected_calibration_error(probabilities: Tensor, targets: Tensor, n_bins: int = 15) -> float:
    """Sum over equal-width confidence bins of |accuracy - confidence| weighted by the bin's share of samples."""
    confidence, prediction = probabilities.max(dim=1)
    correct = (prediction == targets).float()
    bins = torch.clamp((confidence * n_bins).ceil().long() - 1, 0, n_bins - 1)
    ece = torch.zeros((), device=probabilities.device)
    for b in range(n_bins):
        in_bin = bins == b
        share = in_bin.float().mean()
        if in_bin.any():
            ece = ece + share * (correct[in_bin].mean() - confidence[in_bin].mean()).abs()
    return float(ece.item())


def imbalance_metrics(probabilities: Tensor, targets: Tensor, minority: list[int]) -> dict[str, float]:
    """balanced_accuracy (mean per-class recall), minority_recall and auprc (average precision) of minority classes."""
    prediction = probabilities.argmax(dim=1)
    n_classes = probabilities.shape[1]
    recalls: dict[int, float] = {}
    for c in range(n_classes):
        members = targets == c
        if members.any():
            recalls[c] = float((prediction[members] == c).float().mean().item())
    y = targets.cpu().numpy()
    scores = probabilities.detach().cpu().numpy()
    present = [c for c in minority if c in recalls]
    auprc = [float(average_precision_score((y == c).astype(np.int64), scores[:, c])) for c in present]
    return {
        "balanced_accuracy": float(np.mean(list(recalls.values()))),
        "minority_recall": float(np.mean([recalls[c] for c in present])) if present else float("nan"),
        "auprc": float(np.mean(auprc)) if auprc else float("nan"),
    }
