"""Bundles: one message carries several runs of one experiment, shared out as workers take it.

A queued message costs a worker ~5-10 ms (broker receive, pool hand-off, ack) whatever its run
does, ~10% of a 0.1 s run (issue 7). So a new experiment's runs go out in bundles, and the
worker that takes one keeps only what fits in ``bundle_seconds`` of the experiment's typical run
*as this process measured it*, sending the rest on as a new message before it trains anything:
other workers take it as they would take single messages. With no measurement yet (the
experiment's first run here) it keeps one run; runs of a minute or an hour therefore spread over
the workers exactly as before, while runs of 0.1 s share one message per ~2 s of work.

Once that first run has trained and shown the runs are short, the worker takes back what it sent
on, as far as ``bundle_seconds`` allows and as long as no other worker has started those runs: it
claims them one after another through the SQL lease, as it claims the runs it kept. Going back
to the broker for them cost a round trip (finish, ack, receive, claim: 3.5 ms) per experiment,
half of what 0.95 allows a batch of 12 runs of 12 ms (issue 7). The message that carried them
then finds them taken and is dropped after one look at the store.
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
    still_claimable: Callable[[list[RunRef]], list[RunRef]] = list,
    clock: Callable[[], float] = time.monotonic,
) -> list[TerminalStatus | None]:
    """Train the runs of a bundle this worker keeps, after sending the others on; their outcomes, in order.

    ``train(run_id, attempt, next_run)`` is the single-run task body (None: not claimed here);
    ``next_run()``, asked once the run has trained, names the run this process trains right after
    (None if none), so the trainer can claim it together with this one's finish. If a kept run
    turns out much longer than the typical one, the runs not started yet are sent on as well;
    if the kept runs turn out short, runs sent on are taken back (see the module docstring).
    When the broker refuses the message, the runs are trained here instead of waiting for the reaper.
    ``still_claimable(runs)`` (one look at the store) drops runs taken elsewhere once one of them
    could not be claimed here: a message whose runs were all taken back costs one query, not a
    claim per run.
    """
    pending = list(runs)
    keep = runs_to_keep(len(pending), run_times.typical(experiment_id), bundle_seconds)
    kept = _send_on_or_keep(pending[:keep], pending[keep:], send_on)
    plan = _KeptRuns(kept, pending[len(kept) :], bundle_seconds, send_on, clock)
    outcomes: list[TerminalStatus | None] = []
    index = 0
    while plan.trains(index):
        run_id, attempt = plan.kept[index]
        run_started = clock()
        status = train(run_id, attempt, functools.partial(plan.next_after, index))
        outcomes.append(status)
        if status is not None:
            run_times.record(experiment_id, clock() - run_started)
        elif plan.taken_back(index):
            break  # another worker has started the runs sent on: they are its now
        else:
            plan.drop_taken(index + 1, still_claimable)
        index += 1
    return outcomes


class _KeptRuns:
    """Which runs this process goes on to train, each decided once, when first asked.

    ``kept[:own]`` are the runs kept when the bundle arrived; runs taken back from ``sent_on``
    are appended once the first ``own`` have run (at most once per bundle).
    """

    def __init__(
        self,
        kept: list[RunRef],
        sent_on: list[RunRef],
        bundle_seconds: float,
        send_on: Callable[[list[RunRef]], object],
        clock: Callable[[], float],
    ) -> None:
        self.kept = kept
        self._own = len(kept)
        self._sent_on = sent_on
        self._bundle_seconds = bundle_seconds
        self._send_on = send_on
        self._clock = clock
        self._started = clock()
        self._sent_on_from: int | None = None  # own runs from this index on went to the broker
        self._tried_sending_on = False
        # Asked by the trainer (to claim the next run with this one's finish) and by the loop: one answer.
        self._decided: dict[int, bool] = {}

    def trains(self, index: int) -> bool:
        """Whether this process trains ``kept[index]``: not once the bundle has run far over its time and sent it on."""
        if index not in self._decided:
            self._decided[index] = self._decide(index)
        return self._decided[index]

    def taken_back(self, index: int) -> bool:
        """Whether ``kept[index]`` was sent on and then taken back."""
        return index >= self._own

    def drop_taken(self, index: int, still_claimable: Callable[[list[RunRef]], list[RunRef]]) -> None:
        """Keep, of the own runs from ``index`` on that are not decided yet, only those still claimable."""
        undecided = [i for i in range(index, self._own) if i not in self._decided]
        if not undecided:
            return
        first = undecided[0]
        try:
            remaining = set(still_claimable(self.kept[first : self._own]))
        except Exception:  # the store is failing: each claim will find out for itself
            log.warning("could not check which runs are still claimable", exc_info=True)
            return
        survivors = [run for run in self.kept[first : self._own] if run in remaining]
        self.kept[first : self._own] = survivors
        self._own = first + len(survivors)

    def _over_time(self) -> bool:
        return self._bundle_seconds > 0 and self._clock() - self._started > 2 * self._bundle_seconds

    def _decide(self, index: int) -> bool:
        if index == len(self.kept) == self._own and index:
            self._take_back(index)
        if index >= len(self.kept):
            return False
        if index >= self._own:
            return not self._over_time()  # a taken-back run is in the broker already: just stop
        if self._sent_on_from is not None and index >= self._sent_on_from:
            return False
        if index and self._over_time() and not self._tried_sending_on:
            self._tried_sending_on = True
            if not _send_on_or_keep([], self.kept[index : self._own], self._send_on):
                self._sent_on_from = index
                return False
        return True

    def _take_back(self, done: int) -> None:
        # ``done`` runs have trained in the time since the bundle began: as many of the runs sent
        # on as fit in the rest of ``bundle_seconds`` at that pace come back here.
        sent_on, self._sent_on = self._sent_on, []
        if not sent_on or self._bundle_seconds <= 0:
            return
        per_run = max((self._clock() - self._started) / done, 1e-9)
        fit = int(self._bundle_seconds / per_run) - done
        if fit > 0:
            self.kept.extend(sent_on[:fit])
            log.debug("taking back %d of %d runs sent on (%.3f s a run)", min(fit, len(sent_on)), len(sent_on), per_run)

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
