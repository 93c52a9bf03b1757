"""Shared test plumbing: real services (PostgreSQL, Redis, Chromium) or a clear skip.

On a user's machine a missing service skips its tests with the reason; in CI
(``CI=true``) a missing service is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
POSTGRES_URL = os.environ.get("TRICKLAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TRICKLAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# The trick names of DESIGN.md: a contract, stated once for every test that checks a catalog listing.
CANONICAL_TRICKS = (
    "cyclic_lr",
    "focal_loss",
    "warmup",
    "flooding",
    "dropout",
    "batch_norm",
    "group_norm",
    "label_smoothing",
    "relu",
    "radam",
    "adversarial",
    "wgan",
    "skip_connection",
)
CHROMIUM = os.environ.get("TRICKLAB_TEST_CHROMIUM", "/usr/bin/chromium")
# Every server the tests start bootstraps this admin token (TRICKLAB_ADMIN_TOKEN); clients send it.
TEST_ADMIN_TOKEN = "tl_test-admin-token-for-the-suite-0123456789"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, what: str) -> None:
    """Skip (or, in CI, fail) when a real service the test needs is missing."""
    if available:
        return
    if in_ci():
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} is not available on this machine")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of the real PostgreSQL server's maintenance database."""
    require(port_open("127.0.0.1", 5432), "PostgreSQL at 127.0.0.1:5432")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis at 127.0.0.1:6379."""
    require(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture(scope="session")
def chromium_path() -> str:
    require(shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts_dir() -> Iterator[Path]:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    yield ARTIFACTS_DIR


@pytest.fixture(scope="session", autouse=True)
def client_credentials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Clients in this process (and CLI subprocesses) send the suite's admin token, never a developer's saved one."""
    patch = pytest.MonkeyPatch()
    patch.setenv("TRICKLAB_TOKEN", TEST_ADMIN_TOKEN)
    patch.setenv("TRICKLAB_CONFIG_DIR", str(tmp_path_factory.mktemp("tricklab-config")))
    yield
    patch.undo()
