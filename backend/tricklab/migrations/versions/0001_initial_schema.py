"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL so later issues can index into specs and configs.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("task", sa.String(length=100), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("resolved", JSON, nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("n_runs", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("direction IN ('maximize', 'minimize')", name=op.f("ck_experiments_direction")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'finished', 'cancelled')", name=op.f("ck_experiments_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
    )
    op.create_index("ix_experiments_created_at", "experiments", ["created_at"], unique=False)
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("combo_key", sa.String(length=1000), nullable=False),
        sa.Column("tricks", JSON, nullable=False),
        sa.Column("levels", JSON, nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("checkpoint_path", sa.Text(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'diverged', 'cancelled')",
            name=op.f("ck_runs_status"),
        ),
        sa.CheckConstraint("attempt >= 0", name=op.f("ck_runs_attempt")),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.id"], name=op.f("fk_runs_experiment_id_experiments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("experiment_id", "combo_key", "seed", name="uq_runs_experiment_combo_seed"),
    )
    op.create_index("ix_runs_experiment_status", "runs", ["experiment_id", "status"], unique=False)
    op.create_index("ix_runs_status_dispatched", "runs", ["status", "dispatched_at"], unique=False)
    op.create_index("ix_runs_status_lease", "runs", ["status", "lease_expires_at"], unique=False)
    op.create_table(
        "final_metrics",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("non_finite", sa.String(length=4), nullable=True),
        sa.CheckConstraint(
            "non_finite IS NULL OR non_finite IN ('nan', 'inf', '-inf')", name=op.f("ck_final_metrics_non_finite")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_final_metrics_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_final_metrics")),
    )
    op.create_index("ix_final_metrics_key", "final_metrics", ["key"], unique=False)
    op.create_table(
        "metrics",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("non_finite", sa.String(length=4), nullable=True),
        sa.Column("wall_time", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "non_finite IS NULL OR non_finite IN ('nan', 'inf', '-inf')", name=op.f("ck_metrics_non_finite")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_metrics_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "key", "step", name=op.f("pk_metrics")),
        # Clustered on (run, key, step): a curve is one contiguous range scan.
        sqlite_with_rowid=False,
    )
    op.create_table(
        "run_attempts",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("resumed_from_step", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('succeeded', 'failed', 'diverged', 'cancelled', 'lost')",
            name=op.f("ck_run_attempts_outcome"),
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_attempts_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "attempt", name=op.f("pk_run_attempts")),
    )


def downgrade() -> None:
    op.drop_table("run_attempts")
    op.drop_table("metrics")
    op.drop_index("ix_final_metrics_key", table_name="final_metrics")
    op.drop_table("final_metrics")
    op.drop_index("ix_runs_status_lease", table_name="runs")
    op.drop_index("ix_runs_status_dispatched", table_name="runs")
    op.drop_index("ix_runs_experiment_status", table_name="runs")
    op.drop_table("runs")
    op.drop_index("ix_experiments_created_at", table_name="experiments")
    op.drop_table("experiments")
