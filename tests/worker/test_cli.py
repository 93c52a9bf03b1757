"""``python -m tricklab_worker.cli worker``: the Celery worker command line it builds."""

from __future__ import annotations

from pathlib import Path

import pytest
from tricklab.config import get_settings
from tricklab_worker import cli
from tricklab_worker.runner import THREADS_ENV


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
