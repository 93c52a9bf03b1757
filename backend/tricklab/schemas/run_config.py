"""What one run trains: a combination of factor values, a seed and the resolved config.

The worker re-reads this from the run row (Celery carries only the run id).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tricklab.catalog.params import ParamValue


class Combination(BaseModel):
    """One cell of a design: the tricks switched on (with params) and the level of each level factor."""

    model_config = ConfigDict(frozen=True)

    tricks: dict[str, dict[str, ParamValue]]
    levels: dict[str, ParamValue] = {}

    @property
    def key(self) -> str:
        """Stable, human-readable identity, e.g. ``batch_norm+warmup|lr=0.1`` or ``base``."""
        names = "+".join(sorted(self.tricks)) or "base"
        if not self.levels:
            return names
        levels = ",".join(f"{k}={self.levels[k]}" for k in sorted(self.levels))
        return f"{names}|{levels}"


class RunConfig(BaseModel):
    """Everything the engine needs to train one run, fully resolved and defaulted."""

    task: str
    base: dict[str, ParamValue]
    tricks: dict[str, dict[str, ParamValue]]
    seed: int
    metric: str = "test_accuracy"
    combo_key: str = "base"
