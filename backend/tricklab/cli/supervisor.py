"""Keeping ``tricklab up``'s embedded worker alive.

The worker is a separate process (``tricklab worker``) so the API process never
loads torch, and so a worker that crashes (a segfault in a kernel, the OOM
killer) is restarted while the server goes on. Its run is then re-claimed through
the lease in SQL and resumes from its checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)


def worker_command(extra: Sequence[str] = ()) -> list[str]:
    """``tricklab worker`` with this interpreter (works from a venv without the script on PATH).

    Named by module, never imported: the process that supervises is the API server's.
    """
    return [sys.executable, "-m", "tricklab_worker.cli", "worker", *extra]


class WorkerSupervisor:
    """Starts one worker process and restarts it whenever it exits, until ``stop``."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        min_backoff: float = 1.0,
        max_backoff: float = 30.0,
        stable_after: float = 60.0,
    ) -> None:
        self._command = list(command)
        self._env = dict(env) if env is not None else None
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._stable_after = stable_after
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            # Its own session: a Ctrl-C in the terminal reaches only ``tricklab up``,
            # which then shuts the worker down in order instead of both racing.
            self._process = subprocess.Popen(self._command, env=self._env, start_new_session=True)
            log.info("started worker pid %s", self._process.pid)

    def _watch(self) -> None:
        backoff = self._min_backoff
        while not self._stopping.is_set():
            with self._lock:
                process = self._process
            if process is None:
                return
            started = time.monotonic()
            while process.poll() is None:
                if self._stopping.wait(0.5):
                    return
            if self._stopping.is_set():
                return
            uptime = time.monotonic() - started
            backoff = self._min_backoff if uptime > self._stable_after else min(self._max_backoff, backoff * 2)
            print(
                f"tricklab: worker exited with code {process.returncode}; restarting in {backoff:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            if self._stopping.wait(backoff):
                return
            self.restarts += 1
            self._spawn()

    def stop(self, grace: float = 6.0) -> None:
        """Warm shutdown (SIGTERM), then cold (SIGQUIT), then SIGKILL of the worker's whole process group.

        The first two go to the worker's main process only: Celery stops its pool
        children itself, and a child signalled directly leaves the parent waiting.
        A run cut short keeps its lease until it expires and then resumes elsewhere.
        """
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace / 2), (signal.SIGQUIT, grace / 2)):
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if process is not None:
            # Pool children that outlived their parent would keep training unsupervised.
            _signal_group(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
