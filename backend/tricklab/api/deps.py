"""Request dependencies: settings, one database session per request, the Celery producer.

Routes use the ``Annotated`` aliases (``SessionDep``, ``SettingsDep``, ``CeleryDep``,
``SessionFactoryDep``). The app factory puts the shared objects on ``app.state``;
tests override ``get_session_factory`` (or ``get_db``) through
``app.dependency_overrides``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from tricklab.config import Settings


# The accessors are ``async`` only because FastAPI runs every plain ``def`` dependency in its
# thread pool: a hand-off per attribute read, several per request on the metric batch route (issue 7).
async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_session_factory(request: Request) -> sessionmaker[Session]:
    """The app's session factory (for work that outlives one request, such as event streams)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def get_db(factory: Annotated[sessionmaker[Session], Depends(get_session_factory)]) -> Iterator[Session]:
    """One session per request; whatever the route did not commit is rolled back."""
    with factory() as db_session:
        yield db_session


async def get_celery(request: Request) -> Any:
    """The Celery app used as a producer (dispatch by task name only)."""
    return request.app.state.celery


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
SessionDep = Annotated[Session, Depends(get_db)]
CeleryDep = Annotated[Any, Depends(get_celery)]
