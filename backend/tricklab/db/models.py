"""SQLAlchemy 2 models: experiments, runs, run attempts, metric points and final metrics,
plus teams, users, tokens, browser sessions, share links and saved views (issue 5).

Statuses are CHECK constraints rather than database enums so a new status is a
one-line migration on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from tricklab.db.types import JSONType, UTCDateTime, utcnow

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "diverged", "cancelled")
TERMINAL_RUN_STATUSES = ("succeeded", "failed", "diverged", "cancelled")
EXPERIMENT_STATUSES = ("queued", "running", "finished", "cancelled")
NON_FINITE = ("nan", "inf", "-inf")
ROLES = ("viewer", "member", "admin")
TOKEN_KINDS = ("personal", "worker")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# Deterministic constraint names so Alembic migrations can alter them on both dialects.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        CheckConstraint(_in("status", EXPERIMENT_STATUSES), name="status"),
        CheckConstraint(_in("direction", ("maximize", "minimize")), name="direction"),
        Index("ix_experiments_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Every experiment belongs to one team; the API answers 404 to other teams.
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(100))
    spec: Mapped[dict[str, Any]]
    # Resolved base, factors and the design's combinations: what the runs were expanded from.
    resolved: Mapped[dict[str, Any]]
    metric: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    n_runs: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    runs: Mapped[list[Run]] = relationship(back_populates="experiment", passive_deletes=True)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("experiment_id", "combo_key", "seed", name="uq_runs_experiment_combo_seed"),
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        CheckConstraint("attempt >= 0", name="attempt"),
        # Experiment pages filter runs by status; the reaper scans by status and lease/queue time.
        Index("ix_runs_experiment_status", "experiment_id", "status"),
        Index("ix_runs_status_lease", "status", "lease_expires_at"),
        Index("ix_runs_status_dispatched", "status", "dispatched_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    combo_key: Mapped[str] = mapped_column(String(1000))
    tricks: Mapped[dict[str, Any]]
    levels: Mapped[dict[str, Any]]
    seed: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    checkpoint_path: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    experiment: Mapped[Experiment] = relationship(back_populates="runs")


class RunAttempt(Base):
    __tablename__ = "run_attempts"
    __table_args__ = (
        CheckConstraint(
            "outcome IS NULL OR " + _in("outcome", (*TERMINAL_RUN_STATUSES, "lost")),
            name="outcome",
        ),
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    resumed_from_step: Mapped[int | None] = mapped_column(BigInteger)


class MetricPoint(Base):
    """One value of one key at one step; the primary key makes re-sent points harmless."""

    __tablename__ = "metrics"
    __table_args__ = (
        CheckConstraint("non_finite IS NULL OR " + _in("non_finite", NON_FINITE), name="non_finite"),
        # Clustered on (run, key, step) in SQLite: a curve is one contiguous range scan.
        {"sqlite_with_rowid": False},
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # NULL when non-finite: SQLite turns NaN into NULL anyway, so both dialects store the kind in the flag.
    value: Mapped[float | None] = mapped_column(Float)
    non_finite: Mapped[str | None] = mapped_column(String(4))
    wall_time: Mapped[float] = mapped_column(Float)


class MetricRollup(Base):
    """Summary of one key's points in a step bucket of width ``4**level``, kept in step with ``metrics`` on ingest.

    Curves of a million points are drawn from a few thousand of these rows instead of a
    full scan; the points themselves stay in ``metrics`` for exports and small ranges.
    """

    __tablename__ = "metric_rollups"
    __table_args__ = ({"sqlite_with_rowid": False},)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    # step // 4**level: buckets are aligned to absolute steps, so re-sent points land in the same one.
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    first_step: Mapped[int] = mapped_column(BigInteger)
    last_step: Mapped[int] = mapped_column(BigInteger)
    n_points: Mapped[int] = mapped_column(BigInteger)
    # Finite values only (non-finite points are NULL in ``metrics``): mean = value_sum / n_finite.
    n_finite: Mapped[int] = mapped_column(BigInteger)
    value_sum: Mapped[float | None] = mapped_column(Float)
    value_min: Mapped[float | None] = mapped_column(Float)
    value_max: Mapped[float | None] = mapped_column(Float)


class FinalMetric(Base):
    __tablename__ = "final_metrics"
    __table_args__ = (
        CheckConstraint("non_finite IS NULL OR " + _in("non_finite", NON_FINITE), name="non_finite"),
        # Analysis reads one metric across every run of an experiment.
        Index("ix_final_metrics_key", "key"),
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    non_finite: Mapped[str | None] = mapped_column(String(4))


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    # argon2id hash (argon2-cffi); NULL for accounts that only use tokens.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored (the raw value is shown once at creation)."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(_in("kind", TOKEN_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class BrowserSession(Base):
    """A dashboard login: the cookie carries a random id, the table its SHA-256 and the CSRF token."""

    __tablename__ = "browser_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class SavedView(Base):
    """A named comparison of one experiment: chosen combinations, metric, smoothing."""

    __tablename__ = "saved_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShareLink(Base):
    """Read-only access to one experiment (optionally one saved view) for whoever holds the token."""

    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    view_id: Mapped[int | None] = mapped_column(ForeignKey("saved_views.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
