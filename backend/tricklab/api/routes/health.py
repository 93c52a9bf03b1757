"""Liveness and database reachability (the one route that never needs a token)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter
from sqlalchemy import text

from tricklab.api.deps import SessionDep
from tricklab.schemas.api import HealthOut

router = APIRouter(tags=["health"])

try:
    VERSION = version("tricklab")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0.0.0"


@router.get("/healthz", response_model=HealthOut)
def healthz(db_session: SessionDep) -> HealthOut:
    """Whether the server and its database answer."""
    try:
        db_session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:
        database = f"error: {type(exc).__name__}"
    return HealthOut(status="ok" if database == "ok" else "degraded", database=database, version=VERSION)
