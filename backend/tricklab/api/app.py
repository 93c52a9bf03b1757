"""The FastAPI app factory: routers, error mapping, body limit, dashboard files and the reaper.

Never imports torch or the worker package: runs are dispatched to Celery by task name.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

import tricklab
from tricklab.api.middleware import BodySizeLimitMiddleware
from tricklab.api.routes import (
    analysis,
    auth,
    catalog,
    experiments,
    health,
    runs,
    shares,
    teams,
    tokens,
    views,
    worker,
)
from tricklab.auth.deps import ViewerDep
from tricklab.config import Settings, get_settings
from tricklab.db.migrate import upgrade
from tricklab.db.session import is_sqlite, make_engine, make_session_factory, unit_of_work
from tricklab.queue import make_celery
from tricklab.schemas.spec import SpecError
from tricklab.services.bootstrap import announcement, bootstrap
from tricklab.services.errors import ConflictError, NotFoundError
from tricklab.services.reaper import run_reaper

log = logging.getLogger(__name__)


def default_frontend_dir() -> Path:
    """``frontend/`` of the source tree this package lives in."""
    return Path(tricklab.__file__).resolve().parents[2] / "frontend"


def plotly_js_path() -> Path | None:
    """plotly.min.js shipped inside the installed ``plotly`` package (found without importing it)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "package_data" / "plotly.min.js"
    return path if path.exists() else None


def _should_migrate(settings: Settings) -> bool:
    # Embedded mode migrates on start; team mode runs a one-shot migration unless told otherwise.
    return is_sqlite(settings.resolved_database_url) or bool(getattr(settings, "migrate_on_start", False))


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SpecError)
    async def spec_error(_request: Request, exc: SpecError) -> JSONResponse:
        detail = [{"loc": ["body", *e.loc], "msg": e.msg, "type": "value_error"} for e in exc.errors]
        return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(NotFoundError)
    async def not_found(_request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(ConflictError)
    async def conflict(_request: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    # An id or number beyond the database's 64-bit integers (found by the schema fuzzer): the
    # driver raises (SQLite: OverflowError, PostgreSQL: DataError) where a 4xx is the answer.
    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(_request: Request, exc: Exception) -> JSONResponse:
        detail = [{"loc": ["request"], "msg": "a number is out of the supported range", "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    # SQLite still locked after its busy timeout, or PostgreSQL unreachable: the request did
    # nothing (its transaction rolled back) and may simply be sent again.
    @app.exception_handler(OperationalError)
    async def store_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc.orig)
        return JSONResponse(
            {"detail": "the database is busy or unreachable; nothing was changed, retry shortly"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )


def _bootstrap(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    # A fresh store gets its first admin; the message with the secrets is printed once, here.
    with unit_of_work(session_factory, write=True) as db_session:
        created = bootstrap(db_session=db_session, admin_token=settings.admin_token)
    if created is not None:
        print(announcement(created, settings.public_url), flush=True)


def _mount_docs(app: FastAPI) -> None:
    @app.get("/openapi.json", include_in_schema=False)
    def openapi(principal: ViewerDep) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(principal: ViewerDep) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="tricklab API")


def _mount_dashboard(app: FastAPI, frontend_dir: Path) -> None:
    plotly_js = plotly_js_path()
    if plotly_js is not None:

        @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
        def plotly_bundle() -> FileResponse:
            return FileResponse(plotly_js, media_type="text/javascript")

    if frontend_dir.is_dir():
        # Mounted last: API routes above take precedence over same-named files.
        app.mount("/", StaticFiles(directory=frontend_dir, html=True), name="dashboard")


def create_app(settings: Settings | None = None, *, start_reaper: bool = True) -> FastAPI:
    """The tricklab API server for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    engine = make_engine(settings.resolved_database_url)
    session_factory = make_session_factory(engine)
    celery_app = make_celery(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if _should_migrate(settings):
            await asyncio.to_thread(upgrade, settings.resolved_database_url)
        await asyncio.to_thread(_bootstrap, settings, session_factory)
        reaper: asyncio.Task[None] | None = None
        if start_reaper:
            reaper = asyncio.create_task(
                run_reaper(session_factory=session_factory, settings=settings, celery_app=celery_app)
            )
        try:
            yield
        finally:
            if reaper is not None:
                reaper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reaper
            engine.dispose()

    app = FastAPI(
        title="tricklab",
        version="0.1.0",
        summary="Ablation studies of deep-learning training tricks",
        lifespan=lifespan,
        # Served below behind authentication like every other route.
        docs_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.celery = celery_app
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    _install_error_handlers(app)
    for module in (health, auth, catalog, experiments, runs, worker, analysis, views, shares, tokens, teams):
        app.include_router(module.router)
    _mount_docs(app)
    frontend_dir = getattr(settings, "frontend_dir", None) or default_frontend_dir()
    _mount_dashboard(app, Path(frontend_dir))
    return app
