"""Browser-test fixtures: the real product (`tricklab up`) as a subprocess, and Chromium.

`tricklab up` runs uvicorn + one embedded worker on SQLite with the embedded broker,
exactly what a user starts; tests talk to it only over HTTP and through the browser.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT, TEST_ADMIN_TOKEN, free_port

# For httpx calls of the tests against `tricklab up` (which bootstraps TEST_ADMIN_TOKEN).
ADMIN_HEADERS = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _tricklab_bin() -> str:
    here = Path(sys.executable).parent / "tricklab"
    return str(here if here.exists() else REPO_ROOT / ".venv" / "bin" / "tricklab")


def wait_healthy(base_url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tricklab up exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"tricklab up did not answer /healthz in {timeout:.0f}s:\n{log.read_text()[-4000:]}")


@contextmanager
def running_tricklab(command: list[str], data_dir: Path) -> Iterator[str]:
    """Start `tricklab <command> --host --port` on a fresh data dir; yield its base URL; stop its process group."""
    log = data_dir / f"{command[0]}.log"
    port = free_port()
    env = {**os.environ, "TRICKLAB_DATA_DIR": str(data_dir), "TRICKLAB_ADMIN_TOKEN": TEST_ADMIN_TOKEN}
    with log.open("wb") as out:
        # Own process group, so teardown also stops the worker `tricklab up` starts.
        proc = subprocess.Popen(
            [_tricklab_bin(), *command, "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, proc, log)
        yield base_url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@pytest.fixture(scope="session")
def tricklab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real `tricklab up` (API + embedded worker) on a fresh data dir."""
    data_dir = tmp_path_factory.mktemp("tricklab-data")
    with running_tricklab(["up", "--data-dir", str(data_dir)], data_dir) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _page(browser: Any, headers: dict[str, str] | None) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, extra_http_headers=headers)
    pg = context.new_page()
    problems: list[str] = []

    def on_dialog(dialog: Any) -> None:
        problems.append(f"unexpected {dialog.type} dialog: {dialog.message!r}")
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    pg.on("pageerror", lambda err: problems.append(f"uncaught page error: {err}"))
    yield pg
    context.close()
    assert not problems, problems


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page signed in as the suite's admin (bearer header on every request, EventSource included).

    Fails the test on any JS dialog (alert/confirm) or uncaught error.
    """
    yield from _page(browser, ADMIN_HEADERS)


@pytest.fixture
def anon_page(browser: Any) -> Iterator[Any]:
    """A fresh page with no credentials (cookies only once it logs in); fails on dialogs and page errors."""
    yield from _page(browser, None)


def login_with_token(page: Any, base_url: str, token: str = TEST_ADMIN_TOKEN) -> None:
    """Log a page in the way `tricklab up`'s printed link does: `/?token=...` becomes a session cookie."""
    page.goto(f"{base_url}/?token={token}#/")
    page.wait_for_selector("#account-name")
