"""The trick and task catalogs with their parameter schemas."""

from __future__ import annotations

from fastapi import APIRouter

from tricklab.auth.deps import ViewerDep
from tricklab.catalog.tasks import TaskInfo, all_tasks
from tricklab.catalog.tricks import TRICKS, TrickInfo
from tricklab.services.errors import NotFoundError

router = APIRouter(prefix="/api/v1", tags=["catalog"])


@router.get("/tricks", response_model=list[TrickInfo])
def list_tricks(principal: ViewerDep) -> list[TrickInfo]:
    """Every trick: parameters, conflicts and the tasks it applies to."""
    return list(TRICKS.values())


@router.get("/tricks/{name}", response_model=TrickInfo)
def get_trick(name: str, principal: ViewerDep) -> TrickInfo:
    """One trick by its canonical name."""
    trick = TRICKS.get(name)
    if trick is None:
        raise NotFoundError(f"trick {name} not found")
    return trick


@router.get("/tasks", response_model=list[TaskInfo])
def list_tasks(principal: ViewerDep) -> list[TaskInfo]:
    """Built-in and plugin tasks with their base parameters and metrics."""
    return list(all_tasks().values())


@router.get("/tasks/{name}", response_model=TaskInfo)
def get_task(name: str, principal: ViewerDep) -> TaskInfo:
    """One task by name."""
    task = all_tasks().get(name)
    if task is None:
        raise NotFoundError(f"task {name} not found")
    return task
