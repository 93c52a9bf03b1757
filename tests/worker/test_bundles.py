"""Bundles: what a worker keeps of one, what it sends on, and when it hands the rest back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tricklab.reporting import TerminalStatus
from tricklab_worker.bundles import RunRef, RunTimes, execute_bundle, runs_to_keep


class FakeClock:
    """Time that moves only when a fake run says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_run_times_average_toward_recent_runs() -> None:
    times = RunTimes(weight=0.5)
    assert times.typical(1) is None
    times.record(1, 2.0)
    assert times.typical(1) == 2.0
    times.record(1, 4.0)
    assert times.typical(1) == pytest.approx(3.0)
    assert times.typical(2) is None  # per experiment


def test_run_times_forget_the_least_recently_run_experiment() -> None:
    times = RunTimes(remembered=2)
    times.record(1, 1.0)
    times.record(2, 2.0)
    times.record(1, 1.0)  # experiment 1 ran again: 2 is now the oldest
    times.record(3, 3.0)
    assert (times.typical(1), times.typical(2), times.typical(3)) == (1.0, None, 3.0)


@pytest.mark.parametrize(
    ("n_runs", "typical", "bundle_seconds", "expected"),
    [
        (12, None, 2.0, 1),  # nothing measured yet: one run, the rest go to whoever is free
        (12, 0.09, 2.0, 12),  # 2 s / 0.09 s = 22 > 12: all of them
        (64, 0.09, 2.0, 22),
        (64, 0.5, 2.0, 4),
        (64, 30.0, 2.0, 1),  # long runs spread over workers as single messages would
        (64, 0.09, 0.0, 1),  # bundling switched off on this worker
        (1, None, 2.0, 1),
        (0, 0.1, 2.0, 0),
    ],
)
def test_runs_to_keep(n_runs: int, typical: float | None, bundle_seconds: float, expected: int) -> None:
    assert runs_to_keep(n_runs, typical, bundle_seconds) == expected


def _bundle(
    runs: list[RunRef],
    *,
    times: RunTimes,
    seconds_per_run: dict[int, float],
    clock: FakeClock,
    send_fails: bool = False,
    claimed: set[int] | None = None,
    followers: dict[int, RunRef | None] | None = None,
    looks: list[list[RunRef]] | None = None,
    store_fails: bool = False,
) -> tuple[list[int], list[list[RunRef]], list[TerminalStatus | None]]:
    trained: list[int] = []
    sent: list[list[RunRef]] = []

    def train(run_id: int, attempt: int, next_run: Callable[[], RunRef | None]) -> TerminalStatus | None:
        if claimed is not None and run_id not in claimed:
            return None  # another worker holds it, or it was cancelled
        if claimed is not None:
            claimed.discard(run_id)  # a lease is taken once
        trained.append(run_id)
        clock.now += seconds_per_run.get(run_id, 0.1)
        if followers is not None:
            followers[run_id] = next_run()
        return "succeeded"

    def send_on(rest: list[RunRef]) -> None:
        if send_fails:
            raise ConnectionError("broker down")
        sent.append(rest)

    def still_claimable(asked: list[RunRef]) -> list[RunRef]:
        if store_fails:
            raise ConnectionError("database down")
        if looks is not None:
            looks.append(asked)
        return [run for run in asked if claimed is None or run[0] in claimed]

    outcomes = execute_bundle(
        experiment_id=7,
        runs=runs,
        bundle_seconds=2.0,
        run_times=times,
        train=train,
        send_on=send_on,
        still_claimable=still_claimable,
        clock=clock,
    )
    return trained, sent, outcomes


def test_first_bundle_sends_the_rest_on_before_training_and_takes_it_back_when_runs_are_short() -> None:
    times, clock = RunTimes(), FakeClock()
    runs = [(i, 1) for i in range(1, 13)]
    claimed = {run_id for run_id, _ in runs}  # the store: every run queued
    followers: dict[int, RunRef | None] = {}
    trained, sent, outcomes = _bundle(
        runs, times=times, seconds_per_run={}, clock=clock, claimed=claimed, followers=followers
    )
    assert sent == [runs[1:]]  # before training: other workers may take them from the broker
    # 0.1 s a run, 2 s a bundle: nobody took them, so they are trained here, each claimed with
    # the previous run's finish instead of by going back to the broker.
    assert trained == list(range(1, 13))
    assert followers[1] == (2, 1) and followers[12] is None
    assert outcomes == ["succeeded"] * 12
    assert times.typical(7) == pytest.approx(0.1)
    # The message sent on then finds every run taken: one look at the store, no claim per run.
    looks: list[list[RunRef]] = []
    trained, sent, outcomes = _bundle(
        runs[1:], times=times, seconds_per_run={}, clock=clock, claimed=claimed, looks=looks
    )
    assert trained == [] and sent == [] and outcomes == [None]
    assert looks == [runs[2:]]


def test_a_long_first_run_leaves_the_runs_it_sent_on_to_the_broker() -> None:
    times, clock = RunTimes(), FakeClock()
    runs = [(i, 1) for i in range(1, 13)]
    followers: dict[int, RunRef | None] = {}
    trained, sent, _ = _bundle(runs, times=times, seconds_per_run={1: 3.0}, clock=clock, followers=followers)
    assert trained == [1] and sent == [runs[1:]] and followers == {1: None}


def test_only_as_many_runs_come_back_as_fit_in_bundle_seconds() -> None:
    times, clock = RunTimes(), FakeClock()
    runs = [(i, 1) for i in range(1, 13)]
    trained, sent, _ = _bundle(runs, times=times, seconds_per_run=dict.fromkeys(range(1, 13), 0.5), clock=clock)
    assert trained == [1, 2, 3, 4] and sent == [runs[1:]]  # 2 s at 0.5 s a run


def test_taking_back_stops_at_the_first_run_another_worker_has_started() -> None:
    times, clock = RunTimes(), FakeClock()
    runs = [(i, 1) for i in range(1, 7)]
    # Another worker took the message sent on and claimed run 3 first (runs 4-6 were its to send on).
    claimed = {1, 2, 4, 5, 6}
    trained, sent, outcomes = _bundle(runs, times=times, seconds_per_run={}, clock=clock, claimed=claimed)
    assert sent == [runs[1:]]
    assert trained == [1, 2] and outcomes == ["succeeded", "succeeded", None]
    assert claimed == {4, 5, 6}  # left to the worker that holds the message


def test_known_short_runs_keep_about_bundle_seconds_of_work() -> None:
    times, clock = RunTimes(), FakeClock()
    times.record(7, 0.5)
    runs = [(i, 1) for i in range(1, 11)]
    trained, sent, _ = _bundle(runs, times=times, seconds_per_run=dict.fromkeys(range(1, 11), 0.5), clock=clock)
    assert len(trained) == 4 and sent == [runs[4:]]
    # Runs faster than the typical one: what was sent on comes back as far as the time allows.
    times.record(7, 0.5)
    trained, sent, _ = _bundle(runs, times=times, seconds_per_run=dict.fromkeys(range(1, 11), 0.25), clock=clock)
    assert sent == [runs[4:]] and len(trained) == 8


def test_a_run_far_longer_than_typical_hands_the_unstarted_runs_on() -> None:
    times, clock = RunTimes(), FakeClock()
    times.record(7, 0.1)
    runs = [(i, 1) for i in range(1, 6)]
    trained, sent, outcomes = _bundle(runs, times=times, seconds_per_run={2: 10.0}, clock=clock)
    assert trained == [1, 2]
    assert sent == [runs[2:]]
    assert outcomes == ["succeeded", "succeeded"]


def test_a_broker_that_refuses_the_rest_means_training_it_here() -> None:
    times, clock = RunTimes(), FakeClock()
    runs = [(i, 1) for i in range(1, 5)]
    trained, sent, _ = _bundle(runs, times=times, seconds_per_run={}, clock=clock, send_fails=True)
    assert trained == [1, 2, 3, 4] and sent == []


def test_runs_not_claimed_here_are_skipped_and_not_timed() -> None:
    times, clock = RunTimes(), FakeClock()
    times.record(7, 0.1)
    runs = [(i, 1) for i in range(1, 6)]
    looks: list[list[RunRef]] = []
    trained, sent, outcomes = _bundle(
        runs, times=times, seconds_per_run={}, clock=clock, claimed={1, 3, 5}, looks=looks
    )
    assert sent == []
    assert trained == [1, 3, 5]
    # Run 2 could not be claimed: one look drops run 4 as well, which another worker holds.
    assert looks == [runs[2:]]
    assert outcomes == ["succeeded", None, "succeeded", "succeeded"]
    assert times.typical(7) == pytest.approx(0.1)


def test_a_store_that_cannot_be_asked_leaves_each_run_to_its_claim() -> None:
    times, clock = RunTimes(), FakeClock()
    times.record(7, 0.1)
    runs = [(i, 1) for i in range(1, 4)]
    trained, _, outcomes = _bundle(runs, times=times, seconds_per_run={}, clock=clock, claimed={2, 3}, store_fails=True)
    assert trained == [2, 3] and outcomes == [None, "succeeded", "succeeded"]


def test_each_run_names_the_run_trained_after_it_so_its_finish_can_claim_that_one() -> None:
    times, clock = RunTimes(), FakeClock()
    times.record(7, 0.1)
    runs = [(i, 1) for i in range(1, 5)]
    followers: dict[int, RunRef | None] = {}
    trained, _, _ = _bundle(runs, times=times, seconds_per_run={}, clock=clock, followers=followers)
    assert trained == [1, 2, 3, 4]
    assert followers == {1: (2, 1), 2: (3, 1), 3: (4, 1), 4: None}


def test_a_run_sent_on_for_time_is_never_named_as_the_next_one_here() -> None:
    # Run 2 ends 10 s in, far over 2 x bundle_seconds: runs 3-5 go to the broker, so run 2's
    # finish must not claim run 3 (it would hold a lease nobody here trains).
    times, clock = RunTimes(), FakeClock()
    times.record(7, 0.1)
    runs = [(i, 1) for i in range(1, 6)]
    followers: dict[int, RunRef | None] = {}
    trained, sent, _ = _bundle(runs, times=times, seconds_per_run={2: 10.0}, clock=clock, followers=followers)
    assert trained == [1, 2] and sent == [runs[2:]]
    assert followers == {1: (2, 1), 2: None}


def test_when_the_broker_refuses_the_rest_the_next_run_is_still_named() -> None:
    times, clock = RunTimes(), FakeClock()
    times.record(7, 0.1)
    runs = [(i, 1) for i in range(1, 4)]
    followers: dict[int, RunRef | None] = {}
    trained, sent, _ = _bundle(
        runs, times=times, seconds_per_run={1: 10.0}, clock=clock, followers=followers, send_fails=True
    )
    assert trained == [1, 2, 3] and sent == []
    assert followers == {1: (2, 1), 2: (3, 1), 3: None}
