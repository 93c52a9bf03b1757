"""Bundles: one message carries several runs of one experiment, shared out as workers take it.

A queued message costs a worker ~5-10 ms (broker receive, pool hand-off, ack) whatever its run
does, ~10% of a 0.1 s run (issue 7). So a new experiment's runs go out in bundles, and the
worker that takes one keeps only what fits in ``bundle_seconds`` of the experiment's typical run
*as this process measured it*, sending the rest on as a new message before it trains anything:
other workers take it as they would take single messages. With no measurement yet (the
experiment's first run here) it keeps one run; runs of a minute or an hour therefore spread over
the workers exactly as before, while runs of 0.1 s share one message per ~2 s of work.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tricklab.reporting import TerminalStatus

log = logging.getLogger(__name__)

RunRef = tuple[int, int]  # (run_id, attempt)


@dataclass
class RunTimes:
    """Seconds this process took per run of each experiment: a running mean, weighted to recent runs."""

    weight: float = 0.3
    remembered: int = 1024  # experiments; a long-lived worker forgets the oldest first
    _seconds: dict[int, float] = field(default_factory=dict)

    def typical(self, experiment_id: int) -> float | None:
        """The experiment's typical run length here, or None before its first run."""
        return self._seconds.get(experiment_id)

    def record(self, experiment_id: int, seconds: float) -> None:
        """Fold one finished run's duration in."""
        previous = self._seconds.pop(experiment_id, None)
        self._seconds[experiment_id] = seconds if previous is None else previous + self.weight * (seconds - previous)
        if len(self._seconds) > self.remembered:
            del self._seconds[next(iter(self._seconds))]


def runs_to_keep(n_runs: int, typical_seconds: float | None, bundle_seconds: float) -> int:
    """How many of a bundle's ``n_runs`` to train here; the rest go on to whichever worker is free."""
    if n_runs <= 1 or typical_seconds is None or bundle_seconds <= 0:
        return min(n_runs, 1)
    return max(1, min(n_runs, int(bundle_seconds / max(typical_seconds, 1e-9))))


def execute_bundle(
    *,
    experiment_id: int,
    runs: Sequence[RunRef],
    bundle_seconds: float,
    run_times: RunTimes,
    train: Callable[[int, int, Callable[[], RunRef | None]], TerminalStatus | None],
    send_on: Callable[[list[RunRef]], object],
    clock: Callable[[], float] = time.monotonic,
) -> list[TerminalStatus | None]:
    """Train the runs of a bundle this worker keeps, after sending the others on; their outcomes, in order.

    ``train(run_id, attempt, next_run)`` is the single-run task body (None: not claimed here);
    ``next_run()``, asked once the run has trained, names the run this process trains right after
    (None if none), so the trainer can claim it together with this one's finish. If a kept run
    turns out much longer than the typical one, the runs not started yet are sent on as well.
    When the broker refuses the message, the runs are trained here instead of waiting for the reaper.
    """
    pending = list(runs)
    keep = runs_to_keep(len(pending), run_times.typical(experiment_id), bundle_seconds)
    plan = _KeptRuns(_send_on_or_keep(pending[:keep], pending[keep:], send_on), bundle_seconds, send_on, clock)
    outcomes: list[TerminalStatus | None] = []
    for index, (run_id, attempt) in enumerate(plan.kept):
        if not plan.trains(index):
            break
        run_started = clock()
        status = train(run_id, attempt, functools.partial(plan.next_after, index))
        if status is not None:
            run_times.record(experiment_id, clock() - run_started)
        outcomes.append(status)
    return outcomes


class _KeptRuns:
    """Which of the kept runs this process goes on to train, each decided once, when first asked."""

    def __init__(
        self,
        kept: list[RunRef],
        bundle_seconds: float,
        send_on: Callable[[list[RunRef]], object],
        clock: Callable[[], float],
    ) -> None:
        self.kept = kept
        self._bundle_seconds = bundle_seconds
        self._send_on = send_on
        self._clock = clock
        self._started = clock()
        self._sent_on_from: int | None = None  # runs from this index on went to the broker
        self._tried_sending_on = False
        # Asked by the trainer (to claim the next run with this one's finish) and by the loop: one answer.
        self._decided: dict[int, bool] = {}

    def trains(self, index: int) -> bool:
        """Whether this process trains ``kept[index]``: not once the bundle has run far over its time and sent it on."""
        if index not in self._decided:
            self._decided[index] = self._decide(index)
        return self._decided[index]

    def _decide(self, index: int) -> bool:
        if index >= len(self.kept) or (self._sent_on_from is not None and index >= self._sent_on_from):
            return False
        over_time = self._bundle_seconds > 0 and self._clock() - self._started > 2 * self._bundle_seconds
        if index and over_time and not self._tried_sending_on:
            self._tried_sending_on = True
            if not _send_on_or_keep([], self.kept[index:], self._send_on):
                self._sent_on_from = index
                return False
        return True

    def next_after(self, index: int) -> RunRef | None:
        """The run trained after ``kept[index]``, or None."""
        return self.kept[index + 1] if self.trains(index + 1) else None


def _send_on_or_keep(kept: list[RunRef], rest: list[RunRef], send_on: Callable[[list[RunRef]], object]) -> list[RunRef]:
    # What to train here: ``kept`` once ``rest`` is safely in the broker, else everything.
    if not rest:
        return kept
    try:
        send_on(rest)
    except Exception:
        log.warning("could not send runs %s..%s on; training them here", rest[0][0], rest[-1][0], exc_info=True)
        return kept + rest
    return kept
