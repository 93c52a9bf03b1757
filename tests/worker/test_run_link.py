"""The worker's buffered metric sink and the RunLink thread that flushes it and heartbeats the lease."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from tricklab.reporting import MetricPoint
from tricklab_worker.run_link import BufferedMetricSink, RunLink


class RecordingReporter:
    """The calls a RunLink makes, recorded; writes fail while ``failures`` > 0."""

    def __init__(self, *, keep_going: bool = True, failures: int = 0) -> None:
        self.batches: list[list[MetricPoint]] = []
        self.beats: list[float] = []
        self.keep_going = keep_going
        self.failures = failures
        self.resumed: list[int] = []

    def log_metrics(self, *, run_id: int, attempt: int, points: Sequence[MetricPoint]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("store unavailable")
        self.batches.append(list(points))

    def heartbeat(self, *, run_id: int, attempt: int, progress: float) -> bool:
        self.beats.append(progress)
        return self.keep_going

    def record_resume(self, *, run_id: int, attempt: int, step: int) -> None:
        self.resumed.append(step)


def _link(reporter: RecordingReporter, *, flush_seconds: float = 60.0, heartbeat_seconds: float = 60.0) -> RunLink:
    return RunLink(
        reporter=reporter,  # type: ignore[arg-type]
        run_id=3,
        attempt=1,
        flush_seconds=flush_seconds,
        flush_points=1000,
        heartbeat_seconds=heartbeat_seconds,
    )


def test_take_returns_every_point_in_the_order_logged_and_empties_the_sink() -> None:
    sink = BufferedMetricSink(flush_points=10)
    sink.log("lr", 1, 0.5)
    sink.log_many("train_loss", [1, 2], [0.25, 0.125])
    points = sink.take()
    assert [(p.key, p.step, p.value) for p in points] == [
        ("lr", 1, 0.5),
        ("train_loss", 1, 0.25),
        ("train_loss", 2, 0.125),
    ]
    assert all(isinstance(p, MetricPoint) and p.wall_time > 0 for p in points)
    assert points[1].wall_time == points[2].wall_time  # one batch, one wall time
    assert sink.take() == []


def test_points_put_back_go_ahead_of_newer_ones() -> None:
    sink = BufferedMetricSink(flush_points=10)
    sink.log_many("train_loss", [1, 2], [1.0, 2.0])
    failed = sink.take()
    sink.log("train_loss", 3, 3.0)
    sink.put_back(failed)
    assert [p.step for p in sink.take()] == [1, 2, 3]


def test_a_full_sink_rings_its_wake_event() -> None:
    wake = threading.Event()
    sink = BufferedMetricSink(flush_points=3, wake=wake)
    sink.log_many("train_loss", [1, 2], [1.0, 2.0])
    assert not wake.is_set() and not sink.is_full()
    sink.log("lr", 1, 0.1)
    assert wake.is_set() and sink.is_full()


def test_leaving_the_link_flushes_what_is_left() -> None:
    reporter = RecordingReporter()
    with _link(reporter) as link:
        link.sink.log_many("train_loss", [1, 2], [1.0, 2.0])
    assert [[p.step for p in batch] for batch in reporter.batches] == [[1, 2]]


def test_the_thread_flushes_every_flush_seconds_and_a_refused_heartbeat_asks_to_stop() -> None:
    reporter = RecordingReporter(keep_going=False)
    with _link(reporter, flush_seconds=0.05, heartbeat_seconds=0.1) as link:
        link.sink.log("train_loss", 1, 1.0)
        link.set_progress(0.5)
        deadline = time.monotonic() + 10
        while not (reporter.batches and link.should_stop()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reporter.batches and reporter.batches[0][0].step == 1
        assert link.should_stop() and reporter.beats[0] == 0.5


def test_the_final_flush_retries_then_raises_keeping_the_points() -> None:
    reporter = RecordingReporter(failures=1)
    link = _link(reporter)
    link.sink.log("train_loss", 1, 1.0)
    link.flush_final(retries=2)  # one failure, then stored
    assert [p.step for p in reporter.batches[0]] == [1]
    reporter.failures = 5
    link.sink.log("train_loss", 2, 2.0)
    with pytest.raises(ConnectionError):
        link.flush_final(retries=2)
    assert not link.flush_before_checkpoint()  # a checkpoint is skipped rather than saved ahead of its metrics
    assert [p.step for p in link.sink.take()] == [2]  # still there for the next flush
