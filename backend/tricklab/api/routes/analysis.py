"""Analysis routes: aggregated curves, effects and exports of an experiment."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["analysis"])
