"""``python -m tricklab_worker.cli worker``: the Celery worker command line it builds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from tricklab.config import get_settings
from tricklab_worker import cli
from tricklab_worker.runner import THREADS_ENV


def torch_has_cuda() -> bool:
    return torch.version.cuda is not None and torch.cuda.device_count() > 0


def _worker_argv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> list[str]:
    monkeypatch.setenv("TRICKLAB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv(THREADS_ENV, raising=False)
    get_settings.cache_clear()
    from tricklab_worker.celery_app import app  # builds its Celery app from the settings on first import

    captured: list[list[str]] = []
    monkeypatch.setattr(app, "worker_main", lambda argv: captured.append(list(argv)))
    try:
        assert cli.main(["worker", *args]) == 0
    finally:
        get_settings.cache_clear()  # start_worker cached settings for this test's data dir
    (argv,) = captured
    return argv


def test_workers_reserve_one_run_at_a_time_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    argv = _worker_argv(monkeypatch, tmp_path)
    assert "--prefetch-multiplier=1" in argv and "--concurrency=1" in argv


def test_prefetch_reserves_the_next_run_ahead(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    argv = _worker_argv(monkeypatch, tmp_path, "--prefetch", "2")
    assert "--prefetch-multiplier=2" in argv


@pytest.mark.skipif(torch_has_cuda(), reason="this machine has a GPU: the refusal is for one without")
def test_a_worker_pinned_to_a_missing_gpu_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRICKLAB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    from tricklab_worker.celery_app import app

    started: list[list[str]] = []
    monkeypatch.setattr(app, "worker_main", lambda argv: started.append(list(argv)))
    try:
        assert cli.main(["worker", "--gpu", "0"]) == 2
    finally:
        get_settings.cache_clear()
    assert started == []  # no Celery worker: it would silently have trained on the CPU
    err = capsys.readouterr().err
    assert "--gpu 0:" in err and ("no CUDA support" in err or "no GPU with that index" in err)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # nothing pinned by a refused start


def test_a_negative_gpu_index_is_refused_without_asking_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_probe(*args: object, **kwargs: object) -> None:
        raise AssertionError("probed torch for an index that cannot exist")

    monkeypatch.setattr(cli.subprocess, "run", no_probe)
    assert cli.gpu_problem(-1) == "a GPU index is 0 or more"


def test_a_torch_that_cannot_be_asked_is_named_in_the_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "GPU_PROBE", "raise SystemExit('torch is broken here')")
    assert cli.gpu_problem(0) == "could not ask torch for GPUs: torch is broken here"
