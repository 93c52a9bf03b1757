"""Real databases for the store, services and API tests: SQLite (temp file) and PostgreSQL.

Each database is migrated once per test session; every test runs inside an
outer transaction and the code under test commits to savepoints
(``join_transaction_mode="create_savepoint"``), so tests never see each other.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import StarletteDeprecationWarning
from tricklab.api.app import create_app
from tricklab.api.deps import get_session_factory
from tricklab.config import Settings
from tricklab.db.migrate import upgrade
from tricklab.db.session import make_engine

from tests.backend.auth_helpers import Principals, make_principals
from tests.backend.store_helpers import SPEC, RecordingCelery

with warnings.catch_warnings():
    # starlette asks for httpx2; the plain httpx client it falls back to works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

DIALECTS = ["sqlite", "postgres"]


@pytest.fixture(scope="session", params=DIALECTS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database of each dialect, dropped after the session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'tricklab.sqlite'}"
        upgrade(url)
        yield url
        return
    server_url: str = request.getfixturevalue("postgres_server_url")
    name = f"tricklab_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection per test inside an outer transaction that is rolled back afterwards."""
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    if outer.is_active:
        outer.rollback()
    conn.close()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    """Sessions whose commits become savepoints of the test's outer transaction."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def db_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def celery_app() -> RecordingCelery:
    return RecordingCelery()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        broker_url="memory://",
        lease_seconds=30.0,
        max_attempts=3,
        unclaimed_redispatch_seconds=60.0,
        sse_poll_seconds=0.05,
        max_body_bytes=64 * 1024,
    )


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session], celery_app: RecordingCelery) -> Iterator[FastAPI]:
    """The real app on the test's database (no lifespan: the database is migrated, the reaper is tested alone)."""
    application = create_app(settings, start_reaper=False)
    application.dependency_overrides[get_session_factory] = lambda: session_factory
    application.state.celery = celery_app
    yield application
    application.state.engine.dispose()


@pytest.fixture
def principals(db_session: Session) -> Principals:
    """An admin, a member and a viewer of the default team, and an admin of another team, with tokens."""
    return make_principals(db_session)


def _client(app: FastAPI, token: str | None) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {token}"} if token else {})


@pytest.fixture
def client(app: FastAPI, principals: Principals) -> TestClient:
    """Authenticated as an admin of the default team (bearer token)."""
    return _client(app, principals.admin)


@pytest.fixture
def anon_client(app: FastAPI) -> TestClient:
    """No credentials at all."""
    return _client(app, None)


@pytest.fixture
def member_client(app: FastAPI, principals: Principals) -> TestClient:
    return _client(app, principals.member)


@pytest.fixture
def viewer_client(app: FastAPI, principals: Principals) -> TestClient:
    return _client(app, principals.viewer)


@pytest.fixture
def worker_client(app: FastAPI, principals: Principals) -> TestClient:
    """A worker token of the default team."""
    return _client(app, principals.worker)


@pytest.fixture
def other_team_client(app: FastAPI, principals: Principals) -> TestClient:
    """An admin of another team: sees none of the default team's objects."""
    return _client(app, principals.other_admin)


@pytest.fixture
def spec_dict() -> dict[str, Any]:
    return {**SPEC, "factors": list(SPEC["factors"])}
