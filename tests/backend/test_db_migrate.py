"""Migrations: upgrade, downgrade and no drift between the models and the migration scripts."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from tricklab.db.migrate import MIGRATIONS_DIR, downgrade, upgrade
from tricklab.db.models import Base
from tricklab.db.session import make_engine

TABLES = {"experiments", "runs", "run_attempts", "metrics", "final_metrics"}


def test_models_match_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_upgrade_creates_every_table_and_index(engine: Engine) -> None:
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) >= TABLES
    run_indexes = {ix["name"] for ix in inspector.get_indexes("runs")}
    assert {"ix_runs_experiment_status", "ix_runs_status_lease", "ix_runs_status_dispatched"} <= run_indexes
    assert inspector.get_pk_constraint("metrics")["constrained_columns"] == ["run_id", "key", "step"]


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    upgrade(url)
    downgrade(url, "base")
    eng = make_engine(url)
    try:
        assert not TABLES & set(inspect(eng).get_table_names())
    finally:
        eng.dispose()
    upgrade(url)
    upgrade(url)  # idempotent at head
    eng = make_engine(url)
    try:
        assert set(inspect(eng).get_table_names()) >= TABLES
    finally:
        eng.dispose()


def test_scripts_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").exists()
    assert list((MIGRATIONS_DIR / "versions").glob("0001_*.py"))
