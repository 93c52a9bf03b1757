"""``tricklab run``: a whole experiment in-process, written as the JSON contract scripts rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow]


def tricklab(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tricklab.cli.main", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def write_spec(path: Path, spec: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(spec) if path.suffix != ".json" else json.dumps(spec))
    return path


def test_run_writes_the_results_contract(tmp_path: Path) -> None:
    spec = {
        "name": "local-tiny",
        "task": "digits",
        "base": {"epochs": 1, "depth": 2, "width": 32},
        "factors": ["relu", {"dropout": {"p": 0.2}}],
        "seeds": 1,
    }
    out = tmp_path / "results.json"
    spec_file = write_spec(tmp_path / "exp.yaml", spec)
    done = tricklab("run", str(spec_file), "--out", str(out), "--threads", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert set(result) == {"spec", "runs"}
    assert result["spec"]["name"] == "local-tiny"
    assert result["spec"]["task"] == "digits"
    assert [r["tricks"] for r in result["runs"]] == [[], ["dropout"], ["relu"], ["dropout", "relu"]]
    for run in result["runs"]:
        assert set(run) == {"tricks", "seed", "status", "metrics"}
        assert run["tricks"] == sorted(run["tricks"])
        assert run["seed"] == 0
        assert run["status"] == "succeeded"
        assert 0.0 <= run["metrics"]["test_accuracy"] <= 1.0
        assert "test_loss" in run["metrics"]
    assert "4 succeeded" in done.stderr


def test_run_accepts_json_and_prints_to_stdout(tmp_path: Path) -> None:
    spec = {"name": "json", "task": "digits", "base": {"epochs": 1, "depth": 1, "width": 16}, "seeds": 1}
    done = tricklab("run", str(write_spec(tmp_path / "exp.json", spec)), "--threads", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [r["tricks"] for r in result["runs"]] == [[]]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"name": "x", "task": "nope"}, "task"),
        ({"name": "x", "task": "digits", "factors": [{"warmup": {"epochs": -1}}]}, "factors.0.warmup.epochs"),
        ({"name": "x", "task": "digits", "factors": ["no_such_trick"]}, "factors.0"),
        ({"name": "x", "task": "digits", "base": {"lr": "fast"}}, "base.lr"),
        ({"name": "x", "task": "digits", "seeds": 0}, "seeds"),
        ({"task": "digits"}, "name"),
    ],
)
def test_a_bad_spec_exits_2_naming_the_field(tmp_path: Path, spec: dict[str, object], field: str) -> None:
    done = tricklab("run", str(write_spec(tmp_path / "bad.yaml", spec)), cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert field in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_unreadable_or_malformed_files_exit_2(tmp_path: Path) -> None:
    missing = tricklab("run", str(tmp_path / "missing.yaml"), cwd=tmp_path, timeout=60)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    broken = tricklab("run", str(tmp_path / "broken.yaml"), cwd=tmp_path, timeout=60)
    assert broken.returncode == 2 and "not valid YAML" in broken.stderr
    (tmp_path / "list.yaml").write_text("- just\n- a list\n")
    listed = tricklab("run", str(tmp_path / "list.yaml"), cwd=tmp_path, timeout=60)
    assert listed.returncode == 2 and "mapping" in listed.stderr
    for done in (missing, broken, listed):
        assert "Traceback" not in done.stderr
