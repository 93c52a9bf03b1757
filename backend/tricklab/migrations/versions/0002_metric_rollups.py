"""metric rollups: per (run, key) multi-resolution step buckets for fast curve queries

Revision ID: 0002_metric_rollups
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_metric_rollups"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metric_rollups",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("first_step", sa.BigInteger(), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("n_points", sa.BigInteger(), nullable=False),
        sa.Column("n_finite", sa.BigInteger(), nullable=False),
        sa.Column("value_sum", sa.Float(), nullable=True),
        sa.Column("value_min", sa.Float(), nullable=True),
        sa.Column("value_max", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_metric_rollups_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "key", "level", "bucket", name=op.f("pk_metric_rollups")),
        sqlite_with_rowid=False,
    )
    # Points written before this revision get their summaries now, level by level. The SQL is
    # spelled out here (not imported from tricklab.services.rollups) so this revision never changes.
    cols = "run_id, key, level, bucket, first_step, last_step, n_points, n_finite, value_sum, value_min, value_max"
    op.execute(
        f"INSERT INTO metric_rollups ({cols}) SELECT run_id, key, 2, step / 16, min(step), max(step), count(*),"
        " count(value), sum(value), min(value), max(value) FROM metrics GROUP BY run_id, key, step / 16"
    )
    for level in range(3, 11):
        op.execute(
            f"INSERT INTO metric_rollups ({cols}) SELECT run_id, key, {level}, bucket / 4, min(first_step),"
            " max(last_step), sum(n_points), sum(n_finite), sum(value_sum), min(value_min), max(value_max)"
            f" FROM metric_rollups WHERE level = {level - 1} GROUP BY run_id, key, bucket / 4"
        )


def downgrade() -> None:
    op.drop_table("metric_rollups")
