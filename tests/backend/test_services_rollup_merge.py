"""Rollups merged from a batch equal the SQL recompute from the points, whichever path each batch took:
in-order, shuffled, unsorted within a batch, re-sent, overlapping, repeated steps, NaN/inf, sparse and far steps."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from tricklab.db.models import MetricPoint as MetricRow
from tricklab.db.models import MetricRollup
from tricklab.reporting import MetricPoint
from tricklab.services import leases, metrics, multi_row, rollup_merge, rollups

from tests.backend.store_helpers import RecordingCelery, create_experiment, run_ids

Rows = dict[tuple[str, int, int], tuple[object, ...]]
_REFRESH = rollups.refresh  # the reference, out of reach of the ``paths`` spy


@pytest.fixture
def run_id(db_session: Session, celery_app: RecordingCelery) -> int:
    rid = run_ids(db_session, create_experiment(db_session, celery_app, factors=[], seeds=1))[0]
    leases.claim_run(db_session=db_session, run_id=rid, attempt=1, worker_id="w", lease_seconds=30)
    return rid


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Which rollup path each write took: "merge" or "recompute"."""
    taken: list[str] = []
    merge, refresh = rollup_merge.merge, rollups.refresh
    monkeypatch.setattr(rollup_merge, "merge", lambda *a: (taken.append("merge"), merge(*a))[1])
    monkeypatch.setattr(rollups, "refresh", lambda *a: (taken.append("recompute"), refresh(*a))[1])
    yield taken


def _rollups(db_session: Session, run_id: int) -> Rows:
    r = MetricRollup
    rows = db_session.execute(
        select(r.key, r.level, r.bucket, r.first_step, r.last_step, r.n_points, r.n_finite, r.value_sum)
        .add_columns(r.value_min, r.value_max)
        .where(r.run_id == run_id)
    ).all()
    return {(k, int(lv), int(b)): tuple(rest) for k, lv, b, *rest in rows}


def _recomputed(db_session: Session, run_id: int) -> Rows:
    """The rollups as ``rollups.refresh`` computes them from every stored point (the state is left as it was)."""
    nested = db_session.begin_nested()
    db_session.execute(delete(MetricRollup).where(MetricRollup.run_id == run_id))
    steps: dict[str, list[int]] = {}
    for key, step in db_session.execute(select(MetricRow.key, MetricRow.step).where(MetricRow.run_id == run_id)):
        steps.setdefault(key, []).append(int(step))
    _REFRESH(db_session, run_id, steps)
    reference = _rollups(db_session, run_id)
    nested.rollback()
    return reference


def _brute_force(db_session: Session, run_id: int) -> Rows:
    """Every level straight from the points, in Python: what both paths must equal."""
    points = db_session.execute(
        select(MetricRow.key, MetricRow.step, MetricRow.value).where(MetricRow.run_id == run_id)
    ).all()
    out: Rows = {}
    for level in rollups.LEVELS:
        groups: dict[tuple[str, int], list[tuple[int, float | None]]] = {}
        for key, step, value in points:
            groups.setdefault((key, int(step) // rollups.width(level)), []).append((int(step), value))
        for (key, bucket), members in groups.items():
            steps = [s for s, _ in members]
            finite = [v for _, v in members if v is not None]
            out[(key, level, bucket)] = (
                min(steps),
                max(steps),
                len(members),
                len(finite),
                math.fsum(finite) if finite else None,
                min(finite) if finite else None,
                max(finite) if finite else None,
            )
    return out


def _assert_same(actual: Rows, expected: Rows) -> None:
    """Identical rows, except that sums (added in another order) may differ in their last bits."""
    assert actual.keys() == expected.keys()
    for where, got in actual.items():
        want = expected[where]
        assert got[:4] == want[:4] and got[5:] == want[5:], where
        if want[4] is None:
            assert got[4] is None, where
        else:
            assert math.isclose(float(got[4]), float(want[4]), rel_tol=1e-12, abs_tol=1e-9), where  # type: ignore[arg-type]


def _check(db_session: Session, run_id: int) -> None:
    stored = _rollups(db_session, run_id)
    _assert_same(stored, _recomputed(db_session, run_id))
    _assert_same(stored, _brute_force(db_session, run_id))


def _write(db_session: Session, run_id: int, key: str, steps: list[int], values: list[float]) -> None:
    series = [metrics.Columns(key, steps, values, [0.0] * len(steps))]
    metrics.log_metrics(db_session=db_session, run_id=run_id, attempt=1, series=series)


def _values(steps: list[int], rng: random.Random) -> list[float]:
    return [math.sin(s / 300.0) + rng.gauss(0, 0.1) for s in steps]


def test_in_order_and_shuffled_batches_merge_and_equal_the_recompute(
    db_session: Session, run_id: int, paths: list[str]
) -> None:
    rng = random.Random(3)
    for lo in range(0, 5_000, 1_000):  # 1,000 is not a multiple of 16: consecutive batches share a bucket
        steps = list(range(lo, lo + 1_000))
        _write(db_session, run_id, "in_order", steps, _values(steps, rng))
        _check(db_session, run_id)
    starts = list(range(0, 20_000, 700))
    rng.shuffle(starts)  # later batches fill the gaps between earlier ones, at every level
    for lo in starts:
        steps = list(range(lo, min(lo + 700, 20_000)))
        _write(db_session, run_id, "shuffled", steps, _values(steps, rng))
    _check(db_session, run_id)
    steps = list(range(30_000, 31_000))
    rng.shuffle(steps)  # unsorted within the batch
    _write(db_session, run_id, "shuffled", steps, _values(steps, rng))
    _check(db_session, run_id)
    assert set(paths) == {"merge"}


def test_resent_overlapping_and_repeated_steps_take_the_recompute(
    db_session: Session, run_id: int, paths: list[str]
) -> None:
    rng = random.Random(5)
    first = list(range(0, 1_000))
    values = _values(first, rng)
    _write(db_session, run_id, "loss", first, values)
    _write(db_session, run_id, "loss", first, values)  # re-sent as is
    _check(db_session, run_id)
    overlapping = list(range(500, 1_500))
    _write(db_session, run_id, "loss", overlapping, _values(overlapping, rng))
    _check(db_session, run_id)
    repeated = [2_000, 2_001, 2_001, 2_002]  # the first value of a repeated step is the one kept
    _write(db_session, run_id, "loss", repeated, [1.0, 2.0, 99.0, 3.0])
    _check(db_session, run_id)
    assert paths == ["merge", "recompute", "recompute", "recompute"]
    stored = _rollups(db_session, run_id)[("loss", 2, 2_000 // 16)]
    assert stored[2:] == (3, 3, 6.0, 1.0, 3.0)


def test_non_finite_values_sparse_and_far_steps(db_session: Session, run_id: int, paths: list[str]) -> None:
    nan, inf = math.nan, math.inf
    # a bucket of only non-finite points, one with some, infinities of both signs
    _write(db_session, run_id, "odd", list(range(16, 36)), [nan] * 16 + [1.0, -inf, inf, 2.0])
    _write(db_session, run_id, "odd", list(range(36, 48)), [nan, 5.0, *([-1.0] * 10)])
    _write(db_session, run_id, "odd", list(range(0, 16)), [inf] * 16)
    _check(db_session, run_id)
    level2 = _rollups(db_session, run_id)
    assert level2[("odd", 2, 0)][2:] == (16, 0, None, None, None)
    assert level2[("odd", 2, 1)][2:] == (16, 0, None, None, None)
    assert level2[("odd", 2, 2)][2:] == (16, 13, 2.0 + 5.0 - 10.0 + 1.0, -1.0, 5.0)
    rng = random.Random(11)
    sparse = list(range(0, 400_000, 50))  # a point every 50 steps: one per level-2 bucket
    _write(db_session, run_id, "sparse", sparse, _values(sparse, rng))
    far = [3 * 4**10 + s for s in range(0, 5_000, 3)]  # beyond the first level-10 bucket
    _write(db_session, run_id, "sparse", far, _values(far, rng))
    _check(db_session, run_id)
    assert set(paths) == {"merge"}


def test_a_batch_of_several_keys_and_both_forms(db_session: Session, run_id: int, paths: list[str]) -> None:
    points = [MetricPoint(key="lr", step=s, value=0.1 / (s + 1), wall_time=0.0) for s in range(0, 300)]
    series = [
        metrics.Columns("train_loss", list(range(0, 300)), [1.0 / (s + 1) for s in range(300)], [0.0] * 300),
        metrics.Columns("train_loss", list(range(600, 700)), [2.0] * 100, [0.0] * 100),
        metrics.Columns("train_loss", list(range(300, 600)), [3.0] * 300, [0.0] * 300),
        metrics.Columns("grad_norm", list(range(0, 300, 10)), [float(s) for s in range(0, 300, 10)], [0.0] * 30),
    ]
    metrics.log_metrics(db_session=db_session, run_id=run_id, attempt=1, points=points, series=series)
    _check(db_session, run_id)
    # the same points again in the other form: all skipped, recomputed
    again = [MetricPoint(key="grad_norm", step=s, value=0.0, wall_time=0.0) for s in range(0, 300, 10)]
    metrics.log_metrics(db_session=db_session, run_id=run_id, attempt=1, points=again)
    _check(db_session, run_id)
    assert paths == ["merge", "merge", "recompute"]


def test_multi_row_insert_counts_what_it_stored(db_session: Session, run_id: int) -> None:
    head = "INSERT INTO metrics (run_id, key, step, value, non_finite, wall_time)"
    tail = " ON CONFLICT (run_id, key, step) DO NOTHING"
    types = ("bigint", "varchar", "bigint", "float8", "varchar", "float8")

    def columns(steps: list[int]) -> list[list[object]]:
        n = len(steps)
        return [[run_id] * n, ["m"] * n, list(steps), [float(s) for s in steps], [None] * n, [0.0] * n]

    # more rows than one SQLite statement holds, with steps repeated inside and across its statements
    assert multi_row.insert_rows(db_session, head, tail, columns([*range(1_000), 5, 999]), types) == 1_000
    assert multi_row.insert_rows(db_session, head, tail, columns(list(range(10))), types) == 0
    assert multi_row.insert_rows(db_session, head, tail, columns([]), types) == 0
    with pytest.raises(ValueError, match="differ in length"):
        multi_row.insert_rows(db_session, head, tail, [[run_id], ["m"], [1, 2], [1.0], [None], [0.0]], types)
    with pytest.raises(ValueError, match="6 columns, 5 types"):
        multi_row.insert_rows(db_session, head, tail, columns([1]), types[:5])
    stored = db_session.execute(
        select(MetricRow.step, MetricRow.value).where(MetricRow.run_id == run_id).order_by(MetricRow.step)
    ).all()
    assert [(int(s), v) for s, v in stored] == [(s, float(s)) for s in range(1_000)]
