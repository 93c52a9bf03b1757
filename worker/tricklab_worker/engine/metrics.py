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
    """Collects points as device tensors and hands them to the sink in one host transfer per flush.

    Points are kept per key as they arrive (steps and values in two lists), so a flush does not
    regroup them. A loop logging a key every step appends to that key's lists directly
    (``tensor_column``, ``float_column``): ``add`` runs on the step's critical path (issue 7).
    """

    def __init__(self, sink: MetricSink) -> None:
        self.sink = sink
        self._tensors: dict[str, tuple[list[int], list[Tensor]]] = {}
        self._floats: dict[str, tuple[list[int], list[float]]] = {}
        self._series: list[tuple[str, list[int], Tensor]] = []

    def tensor_column(self, key: str) -> tuple[list[int], list[Tensor]]:
        """The pending (steps, 0-d detached device values) of ``key``: lists that stay valid across flushes."""
        column = self._tensors.get(key)
        if column is None:
            column = self._tensors[key] = ([], [])
        return column

    def float_column(self, key: str) -> tuple[list[int], list[float]]:
        """The pending (steps, floats) of ``key``: lists that stay valid across flushes."""
        column = self._floats.get(key)
        if column is None:
            column = self._floats[key] = ([], [])
        return column

    def add(self, key: str, step: int, value: Tensor | float) -> None:
        if isinstance(value, Tensor):
            steps, values = self.tensor_column(key)
            steps.append(step)
            # Each tensor op is a dispatcher call on the step's path: a loss is already 0-d.
            values.append(value.detach() if value.dim() == 0 else value.detach().reshape(()))
        else:
            float_steps, floats = self.float_column(key)
            float_steps.append(step)
            floats.append(float(value))

    def add_series(self, key: str, steps: list[int], values: Tensor) -> None:
        """Several points of ``key`` at once, their values a 1-D device tensor (read with the rest at the flush)."""
        if steps:
            self._series.append((key, list(steps), values.detach().reshape(-1)))

    def _columns(self) -> dict[str, tuple[list[int], list[float]]]:
        """Every pending point by key, the tensors read in one host transfer; the buffer is left empty."""
        columns: dict[str, tuple[list[int], list[float]]] = {}
        for key, (steps, floats) in self._floats.items():
            if steps:
                columns[key] = (steps.copy(), floats.copy())
                steps.clear()
                floats.clear()
        pending = [(key, steps, values) for key, (steps, values) in self._tensors.items() if steps]
        series, self._series = self._series, []
        if pending or series:
            parts = [torch.stack([t for _, _, values in pending for t in values])] if pending else []
            parts += [values for _, _, values in series]
            if any(part.dtype != torch.float32 for part in parts):  # bf16 under autocast
                parts = [part.float() for part in parts]
            flat: list[float] = (torch.cat(parts) if len(parts) > 1 else parts[0]).cpu().tolist()
            start = 0
            for key, steps, _ in [*pending, *series]:
                read = flat[start : start + len(steps)]
                start += len(steps)
                if key in columns:  # one key logged more than one way: merge, in step order below
                    columns[key] = (columns[key][0] + steps, columns[key][1] + read)
                else:
                    columns[key] = (steps.copy(), read)
            for _, steps, values in pending:
                steps.clear()
                values.clear()
        return columns

    def flush(self) -> tuple[dict[str, list[tuple[int, float]]], Divergence | None]:
        """Send everything pending; return it by key and the first non-finite diverging value, if any."""
        by_key: dict[str, list[tuple[int, float]]] = {}
        divergence: Divergence | None = None
        for key, (steps, values) in self._columns().items():
            series = list(zip(steps, values, strict=True))
            if steps != sorted(steps):  # in order already unless a key was logged both ways
                series.sort()
                steps, values = [s for s, _ in series], [v for _, v in series]
            by_key[key] = series
            self.sink.log_many(key, steps, values)
            if key in NOT_DIVERGENCE_SIGNALS or all(map(math.isfinite, values)):
                continue
            bad = next(s for s, v in series if not math.isfinite(v))
            if divergence is None or bad < divergence.step:
                divergence = Divergence(step=bad, key=key)
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
