"""Cached JSON answers with an ETag: 304 while the client's copy is current."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, status
from fastapi.responses import Response

from tricklab.services.payload_cache import Payload

IfNoneMatch = Annotated[str | None, Header(description="an ETag of an earlier answer: 304 while it is current")]
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "the experiment has not changed since the ETag in If-None-Match"}
}


def payload_response(payload: Payload) -> Response:
    """The payload's JSON with its ETag, or an empty 304 when the client already holds it."""
    # no-cache: a browser may keep the body but revalidates it (If-None-Match) on every request
    headers = {"ETag": payload.etag, "Cache-Control": "private, no-cache"}
    if payload.body is None:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=payload.body, media_type="application/json", headers=headers)
