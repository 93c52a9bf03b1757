"""The worker's Celery app: the API's producer configuration plus the training task.

``make_celery`` (shared with the API) sets acks_late, prefetch 1 and
reject_on_worker_lost; this module adds the task and per-process set-up.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init
from tricklab.config import get_settings
from tricklab.queue import make_celery

from tricklab_worker.runner import configure_threads
from tricklab_worker.tasks import register_tasks

settings = get_settings()
app = make_celery(settings)
register_tasks(app)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _set_up_pool_process(**_: Any) -> None:
    # Each pool process trains; its torch threads are its share of the cores.
    configure_threads()
