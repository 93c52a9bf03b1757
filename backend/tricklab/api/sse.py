"""The server-sent event stream of one experiment."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from tricklab.services.errors import NotFoundError
from tricklab.services.events import ChangeTracker, ExperimentState

KEEPALIVE_SECONDS = 15.0


def format_event(event: str, data: Any) -> str:
    """One SSE frame (data is a single JSON line)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def experiment_event_stream(
    request: Request, first: ExperimentState, poll: Callable[[], ExperimentState], poll_seconds: float
) -> AsyncIterator[str]:
    """snapshot, then update (changed runs only, at most every poll), then end when every run is terminal."""
    state = first
    tracker = ChangeTracker()
    yield format_event("snapshot", tracker.snapshot(state))
    last_sent = time.monotonic()
    while not state.finished:
        await asyncio.sleep(poll_seconds)
        if await request.is_disconnected():
            return
        try:
            state = await run_in_threadpool(poll)
        except NotFoundError:
            break  # the experiment was deleted: nothing more will change
        payload = tracker.update(state)
        if payload is not None:
            yield format_event("update", payload)
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield ": keepalive\n\n"
            last_sent = time.monotonic()
    yield format_event("end", {"experiment": state.experiment.model_dump(mode="json"), "runs": []})
