"""Settings from the environment (``TRICKLAB_*``) behind a cached getter that tests override."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where tricklab keeps its data and how its parts reach each other."""

    model_config = SettingsConfigDict(env_prefix="TRICKLAB_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path.home() / ".tricklab")
    database_url: str | None = None
    broker_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    queue_name: str = "tricklab"
    # The embedded broker's poll where its doorbell is unavailable (not Linux, or all slots taken): a worker
    # then waits up to this long for its next run. With the doorbell a sender wakes it at once and it polls
    # on its own only every broker_doorbell.IDLE_WAIT_SECONDS (issue 7).
    broker_poll_seconds: float = 0.02
    # Redis only: how long an unacknowledged message waits before Redis redelivers it. The SQL
    # lease makes a redelivery harmless; None keeps kombu's default (1 h).
    broker_visibility_seconds: float | None = None
    lease_seconds: float = 60.0
    heartbeat_seconds: float = 10.0
    max_attempts: int = 3
    unclaimed_redispatch_seconds: float = 120.0
    # A new experiment's runs go out in messages of up to this many runs (1: one message per run);
    # a worker keeps about ``bundle_seconds`` of the experiment's typical run time from a bundle
    # and sends the rest on. A queued message costs ~5-10 ms, ~10% of a 0.1 s run (issue 7).
    dispatch_bundle_runs: int = Field(default=64, ge=1)
    bundle_seconds: float = Field(default=2.0, ge=0)
    # A worker saves a run's checkpoint every checkpoint_seconds of training (and at an epoch end once
    # the last save is 10 s old): what a crash can lose. checkpoint_every_steps adds saves at fixed steps.
    checkpoint_seconds: float = Field(default=30.0, gt=0)
    checkpoint_every_steps: int | None = Field(default=None, ge=1)
    # How often a worker's RunLink thread wakes to write the buffered points (live curves lag by up to
    # this much; the engine itself reads device metrics back every 200 steps or 2 s). Each wake cost
    # the training thread ~0.4% of its steps at 1 s on a small CPU model (issue 7, bench_training).
    metrics_flush_seconds: float = 2.0
    metrics_flush_points: int = 5000
    sse_poll_seconds: float = 0.5
    max_body_bytes: int = 10 * 1024 * 1024
    frontend_dir: Path | None = None
    migrate_on_start: bool = False
    # A known admin token for automation (TRICKLAB_ADMIN_TOKEN); applied on every start, idempotently.
    admin_token: str | None = Field(default=None, repr=False)
    session_hours: float = 24 * 14

    @property
    def resolved_database_url(self) -> str:
        """The SQL store; an SQLite file in the data directory unless configured."""
        return self.database_url or f"sqlite:///{self.data_dir / 'tricklab.sqlite'}"

    @property
    def resolved_broker_url(self) -> str:
        """The Celery broker; an embedded SQLite-backed broker in the data directory unless configured."""
        return self.broker_url or f"sqla+sqlite:///{self.data_dir / 'broker.sqlite'}"

    @property
    def secure_cookies(self) -> bool:
        """Session cookies are ``Secure`` when the server is reached over HTTPS."""
        return self.public_url.lower().startswith("https://")

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (``get_settings.cache_clear()`` after changing the environment)."""
    return Settings()
