"""The worker's live link to the store while one run trains.

``BufferedMetricSink`` collects points in memory (an append per step, no I/O) and
``RunLink`` is one background thread that flushes them in batches and extends the
run's lease. The training loop never waits on the database: a slow or briefly
locked store delays a flush, not a step.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

from tricklab.reporting import MetricPoint, RunReporter

log = logging.getLogger(__name__)

_Row = tuple[str, int, float, float]


class BufferedMetricSink:
    """A ``MetricSink`` that buffers points until ``take`` drains them."""

    def __init__(self, *, flush_points: int, wake: threading.Event | None = None) -> None:
        self._rows: list[_Row] = []
        self._lock = threading.Lock()
        self._flush_points = max(1, flush_points)
        self._wake = wake

    def log(self, key: str, step: int, value: float) -> None:
        row = (key, int(step), float(value), time.time())
        with self._lock:
            self._rows.append(row)
            full = len(self._rows) >= self._flush_points
        if full and self._wake is not None:
            self._wake.set()

    def log_many(self, key: str, steps: list[int], values: list[float]) -> None:
        now = time.time()
        rows = [(key, int(s), float(v), now) for s, v in zip(steps, values, strict=True)]
        with self._lock:
            self._rows.extend(rows)
            full = len(self._rows) >= self._flush_points
        if full and self._wake is not None:
            self._wake.set()

    def is_full(self) -> bool:
        with self._lock:
            return len(self._rows) >= self._flush_points

    def take(self) -> list[MetricPoint]:
        """Remove and return everything buffered so far."""
        with self._lock:
            rows, self._rows = self._rows, []
        # A row is a point's fields in order: tuple.__new__ per row, no Python-level constructor.
        return list(map(MetricPoint._make, rows))

    def put_back(self, points: list[MetricPoint]) -> None:
        """Return points whose write failed, ahead of newer ones, so the next flush retries them."""
        with self._lock:
            self._rows[:0] = points


class RunLink:
    """A ``RunControl`` backed by a thread that flushes metrics and heartbeats the lease.

    Use as a context manager around training: leaving it stops the thread and
    flushes what is left (raising if that final write keeps failing, so the run is
    not marked finished with metrics missing).
    """

    def __init__(
        self,
        *,
        reporter: RunReporter,
        run_id: int,
        attempt: int,
        flush_seconds: float,
        flush_points: int,
        heartbeat_seconds: float,
    ) -> None:
        self._reporter = reporter
        self._run_id = run_id
        self._attempt = attempt
        self._flush_seconds = max(0.05, flush_seconds)
        self._heartbeat_seconds = max(0.1, heartbeat_seconds)
        self._wake = threading.Event()
        self._closing = threading.Event()
        # One flush at a time: a flush that returned means every point taken before it is stored.
        self._flush_lock = threading.Lock()
        self.sink = BufferedMetricSink(flush_points=flush_points, wake=self._wake)
        self._progress = 0.0
        self._stop_requested = False
        self._thread = threading.Thread(target=self._loop, name=f"run-{run_id}-link", daemon=True)

    # RunControl
    def should_stop(self) -> bool:
        return self._stop_requested

    def set_progress(self, fraction: float) -> None:
        self._progress = min(1.0, max(0.0, float(fraction)))

    def on_resume(self, step: int) -> None:
        """Record the resumed-from step on this attempt now, so an attempt killed again still shows it."""
        try:
            self._reporter.record_resume(run_id=self._run_id, attempt=self._attempt, step=step)
        except Exception:
            # Only the attempt history would miss it; training and its metrics are unaffected.
            log.warning("run %s: could not record the resume step %s", self._run_id, step, exc_info=True)

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    def __enter__(self) -> RunLink:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout=60)
        if exc_type is None or issubclass(exc_type, Exception):
            self.flush_final()

    def flush_final(self, retries: int = 3) -> None:
        """Write every buffered point, retrying a few times before giving up."""
        for i in range(retries):
            try:
                self._flush()
                return
            except Exception:
                if i == retries - 1:
                    raise
                log.warning("run %s: final metric flush failed, retrying", self._run_id, exc_info=True)
                time.sleep(0.5 * (i + 1))

    def flush_before_checkpoint(self) -> bool:
        """Store every point logged so far (the ``CheckpointStore.before_save`` hook); False if the store failed."""
        try:
            self._flush()
        except Exception:
            log.warning("run %s: metric flush before a checkpoint failed; keeping the previous one", self._run_id)
            return False
        return True

    def _flush(self) -> None:
        with self._flush_lock:
            points = self.sink.take()
            if not points:
                return
            try:
                self._reporter.log_metrics(run_id=self._run_id, attempt=self._attempt, points=points)
            except Exception:
                self.sink.put_back(points)
                raise

    def _heartbeat(self) -> None:
        keep_going = self._reporter.heartbeat(run_id=self._run_id, attempt=self._attempt, progress=self._progress)
        if not keep_going:
            log.info("run %s attempt %s: cancelled or lease lost; stopping", self._run_id, self._attempt)
            self._stop_requested = True

    def _loop(self) -> None:
        next_flush = time.monotonic() + self._flush_seconds
        next_beat = time.monotonic() + self._heartbeat_seconds
        while not self._closing.is_set():
            timeout = max(0.0, min(next_flush, next_beat) - time.monotonic())
            self._wake.wait(timeout)
            self._wake.clear()
            if self._closing.is_set():
                return
            now = time.monotonic()
            if now >= next_flush or self.sink.is_full():
                try:
                    self._flush()
                except Exception:
                    log.warning("run %s: metric flush failed; will retry", self._run_id, exc_info=True)
                next_flush = time.monotonic() + self._flush_seconds
            if now >= next_beat:
                try:
                    self._heartbeat()
                except Exception:
                    log.warning("run %s: heartbeat failed; will retry", self._run_id, exc_info=True)
                next_beat = time.monotonic() + self._heartbeat_seconds
