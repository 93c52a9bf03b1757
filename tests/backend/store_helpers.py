"""Helpers shared by the store, services and API tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from tricklab.db.models import Run
from tricklab.queue import TRAIN_RUNS_TASK
from tricklab.schemas.spec import ExperimentSpec
from tricklab.services import experiments

SPEC: dict[str, Any] = {
    "name": "digits-core",
    "task": "digits",
    "base": {"epochs": 2, "batch_size": 64, "lr": 0.05},
    "factors": ["label_smoothing", {"warmup": {"epochs": 1}}, "batch_norm", "group_norm"],
    "seeds": 2,
}


@dataclass
class RecordingCelery:
    """Stands in for the Celery producer in unit tests: records what would be sent."""

    sent: list[tuple[str, list[Any]]] = field(default_factory=list)
    on_send: Any = None

    def send_task(self, name: str, args: list[Any] | None = None, **_kw: Any) -> Any:
        if self.on_send is not None:
            self.on_send(name, args)
        self.sent.append((name, list(args or [])))
        return type("Result", (), {"id": f"task-{len(self.sent)}"})()

    @property
    def dispatched(self) -> list[tuple[int, int]]:
        """Every (run_id, attempt) sent, bundles unpacked, in sending order."""
        out: list[tuple[int, int]] = []
        for name, args in self.sent:
            if name == TRAIN_RUNS_TASK:
                out += [(run_id, attempt) for run_id, attempt in args[1]]
            else:
                out.append((args[0], args[1]))
        return out


def create_experiment(db_session: Session, celery_app: RecordingCelery, **overrides: Any) -> int:
    """Store an experiment through the service and return its id."""
    spec = ExperimentSpec.model_validate({**SPEC, **overrides})
    created = experiments.create_experiment(
        db_session=db_session, spec=spec, celery_app=celery_app, public_url="http://testserver"
    )
    return created.id


def run_ids(db_session: Session, experiment_id: int) -> list[int]:
    return list(db_session.scalars(select(Run.id).where(Run.experiment_id == experiment_id).order_by(Run.id)))
