"""Saved CLI credentials (``tricklab login``): one server URL and its token, in a 0600 file.

Kept under ``$TRICKLAB_CONFIG_DIR`` (default ``~/.config/tricklab``). The client uses the saved
token only for the URL it was saved for, so it is never sent to another server.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

FILENAME = "credentials.json"


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str


def config_dir() -> Path:
    """Where tricklab keeps per-user CLI state."""
    configured = os.environ.get("TRICKLAB_CONFIG_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".config" / "tricklab"


def normalize_url(url: str) -> str:
    return url.rstrip("/")


def save(credentials: Credentials) -> Path:
    """Write the credentials readable by this user only (created 0600, never widened)."""
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / FILENAME
    payload = json.dumps({"url": normalize_url(credentials.url), "token": credentials.token})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(payload)
    os.chmod(path, 0o600)  # an older file may have been created with wider permissions
    return path


def load() -> Credentials | None:
    """The saved credentials, if any (a damaged file counts as none)."""
    path = config_dir() / FILENAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(url=normalize_url(str(data["url"])), token=str(data["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def token_for(url: str) -> str | None:
    """The saved token when it was saved for ``url``."""
    saved = load()
    return saved.token if saved is not None and saved.url == normalize_url(url) else None
