"""Insert rows of an expansion are exactly ``design.run_configs``: same runs, same order, same configs."""

from __future__ import annotations

from datetime import UTC, datetime

from tricklab.design import run_configs
from tricklab.schemas.spec import ExperimentSpec, resolve_spec
from tricklab.services.experiments import _expand, _run_rows

from tests.backend.store_helpers import SPEC


def test_rows_equal_run_configs_with_level_factors() -> None:
    spec = ExperimentSpec.model_validate({**SPEC, "factors": [*SPEC["factors"], {"lr": [0.05, 0.1]}], "seeds": 3})
    resolved, combos, n_runs = _expand(spec)
    rows = _run_rows(resolved, combos, experiment_id=7, now=datetime(2026, 1, 1, tzinfo=UTC))
    expected = run_configs(resolve_spec(spec))
    assert n_runs == len(rows) == len(expected) == 12 * 2 * 3
    assert [r["config"] for r in rows] == [c.model_dump(mode="json") for c in expected]
    assert [(r["combo_key"], r["seed"], r["tricks"]) for r in rows] == [
        (c.combo_key, c.seed, c.tricks) for c in expected
    ]
    assert all(r["levels"] == {"lr": r["config"]["base"]["lr"]} for r in rows)
