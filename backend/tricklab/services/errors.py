"""Service-level failures that the API maps to HTTP statuses."""

from __future__ import annotations


class NotFoundError(LookupError):
    """An id that names nothing (HTTP 404)."""


class ConflictError(RuntimeError):
    """A request that the current state forbids, such as cancelling a finished run (HTTP 409)."""
