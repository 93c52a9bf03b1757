"""Which credential each route needs, read from the app's dependency graph (never hand-written)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from tricklab.auth.deps import RoleRequirement

# Strongest first: a route's requirement is the strongest one found among its dependencies.
ORDER = ("admin", "worker", "member", "viewer", "share link", "public")


@dataclass(frozen=True)
class RouteRequirement:
    method: str
    path: str
    requirement: str


def _requirements(dependant: Dependant) -> set[str]:
    found: set[str] = set()
    call: Any = dependant.call
    if isinstance(call, RoleRequirement):
        found.add(call.role)
    label = getattr(call, "requirement", None)
    if isinstance(label, str):
        found.add(label)
    for sub in dependant.dependencies:
        found |= _requirements(sub)
    return found


def route_requirements(app: FastAPI) -> list[RouteRequirement]:
    """Every HTTP route of ``app`` with the credential it needs, sorted by path and method."""
    out = []
    # Included routers are resolved lazily; iter_route_contexts yields their routes with the full path.
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or route.path is None:
            continue
        found = _requirements(route.dependant)
        requirement = next((r for r in ORDER if r in found), "public")
        for method in sorted(route.methods or ()):
            out.append(RouteRequirement(method, route.path, requirement))
    return sorted(out, key=lambda r: (r.path, r.method))


def format_table(rows: list[RouteRequirement]) -> str:
    """A Markdown table of routes and their requirements."""
    lines = ["| method | path | requires |", "|---|---|---|"]
    lines += [f"| {r.method} | `{r.path}` | {r.requirement} |" for r in rows]
    return "\n".join(lines)
