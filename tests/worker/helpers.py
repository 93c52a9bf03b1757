"""Helpers for the engine tests: a recording sink, a controllable RunControl, resolved configs."""

from __future__ import annotations

from typing import Any

from tricklab.catalog.params import validate_params
from tricklab.catalog.tasks import all_tasks
from tricklab.catalog.tricks import TRICKS
from tricklab.schemas.run_config import RunConfig


class RecordingSink:
    """Keeps every logged point, so tests can check curves (and that no step is logged twice)."""

    def __init__(self) -> None:
        self.points: dict[str, list[tuple[int, float]]] = {}
        self.batches = 0

    def log(self, key: str, step: int, value: float) -> None:
        self.points.setdefault(key, []).append((step, value))

    def log_many(self, key: str, steps: list[int], values: list[float]) -> None:
        self.batches += 1
        self.points.setdefault(key, []).extend(zip(steps, values, strict=True))

    def steps(self, key: str) -> list[int]:
        return [step for step, _ in self.points.get(key, [])]


class Control:
    """Stops after ``stop_after`` should_stop() calls (never when None) and records progress."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after = stop_after
        self.calls = 0
        self.progress: list[float] = []

    def should_stop(self) -> bool:
        self.calls += 1
        return self.stop_after is not None and self.calls >= self.stop_after

    def set_progress(self, fraction: float) -> None:
        self.progress.append(fraction)


def make_config(task: str, tricks: dict[str, dict[str, Any]] | None = None, *, seed: int = 0, **base: Any) -> RunConfig:
    """A RunConfig resolved against the catalogs exactly as the server resolves specs."""
    info = all_tasks()[task]
    return RunConfig(
        task=task,
        base=validate_params(info.params, base, ("base",)),
        tricks={name: validate_params(TRICKS[name].params, params, (name,)) for name, params in (tricks or {}).items()},
        seed=seed,
    )
