"""Per-run bucket memo: the rollup rows of one level, re-read only for runs whose points changed."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tricklab.db.models import MetricRollup
from tricklab.reporting import MetricPoint
from tricklab.services import metrics, run_buckets
from tricklab.services.run_buckets import BucketMemo

from tests.backend.store_helpers import RecordingCelery, create_experiment, run_ids


@pytest.fixture(autouse=True)
def empty_memo() -> Iterator[None]:
    run_buckets.MEMO.clear()
    yield
    run_buckets.MEMO.clear()


def test_memo_keeps_the_most_recently_used_groups() -> None:
    memo = BucketMemo(max_groups=2)
    memo.group("a")[1] = "x"  # type: ignore[assignment]
    memo.group("b")
    assert memo.group("a") == {1: "x"}  # a is now the most recent
    memo.group("c")
    assert len(memo) == 2 and memo.group("a") == {1: "x"} and memo.group("b") == {}  # b was dropped


def _write(db_session: Session, rid: int, steps: range, nan_at: int | None = None) -> None:
    pts = [MetricPoint("train_loss", s, math.nan if s == nan_at else 1.0 / (s + 1) + rid, float(s)) for s in steps]
    metrics.insert_points(db_session, rid, pts)


def _stamps(db_session: Session, rids: list[int]) -> dict[int, tuple[int, int, int, int]]:
    r = MetricRollup
    rows = db_session.execute(
        select(r.run_id, func.sum(r.n_points), func.sum(r.n_finite), func.min(r.first_step), func.max(r.last_step))
        .where(r.run_id.in_(rids), r.key == "train_loss", r.level == 10)
        .group_by(r.run_id)
    ).all()
    return {int(a): (int(b), int(c), int(d), int(e)) for a, b, c, d, e in rows}


def _reference(db_session: Session, rid: int) -> tuple[list[int], list[int], list[float]]:
    """The run's level-2 rows straight from the table (the mean as the curves define it)."""
    r = MetricRollup
    rows = db_session.execute(
        select(r.bucket, r.first_step, r.value_sum, r.n_finite)
        .where(r.run_id == rid, r.key == "train_loss", r.level == 2)
        .order_by(r.bucket)
    ).all()
    return [b for b, *_ in rows], [f for _, f, *_ in rows], [s / n if n else math.nan for *_, s, n in rows]


def _same(got: run_buckets.RunBuckets, ref: tuple[list[int], list[int], list[float]]) -> bool:
    means = got.means.tolist()
    return (
        got.buckets.tolist() == ref[0]
        and got.firsts.tolist() == ref[1]
        and all(a == b or (math.isnan(a) and math.isnan(b)) for a, b in zip(means, ref[2], strict=True))
    )


def test_only_runs_with_new_points_are_read_again(
    db_session: Session, celery_app: RecordingCelery, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = create_experiment(db_session, celery_app)
    rids = run_ids(db_session, exp)[:5]
    for i, rid in enumerate(rids):
        _write(db_session, rid, range(i, 200 + 10 * i), nan_at=50 if i == 3 else None)
    reads: list[Any] = []
    real = run_buckets._read

    def spy(*args: Any) -> np.ndarray:
        reads.append(args[-1])
        return real(*args)

    monkeypatch.setattr(run_buckets, "_read", spy)
    monkeypatch.setattr(run_buckets, "_ID_LIST_MAX", 2)  # id lists are sent in chunks

    def load() -> dict[int, run_buckets.RunBuckets]:
        got = run_buckets.load(
            db_session=db_session,
            experiment_id=exp,
            generation="g",
            key="train_loss",
            level=2,
            stamps=_stamps(db_session, rids),
        )
        assert list(got) == sorted(rids) and all(_same(got[rid], _reference(db_session, rid)) for rid in rids)
        return got

    first = load()
    assert reads == [None]  # every run: one query over the experiment
    assert load() == first and reads == [None]  # nothing changed: nothing read
    _write(db_session, rids[1], range(300, 340))  # a running run's next batch
    _write(db_session, rids[2], range(10, 15))  # re-sent points: no change
    load()
    assert reads == [None, [rids[1]]]
    _write(db_session, rids[0], range(400, 401))
    _write(db_session, rids[4], range(400, 401))
    load()
    assert reads[-1] == sorted([rids[0], rids[4]])
    other = run_buckets.load(
        db_session=db_session,
        experiment_id=exp,
        generation="another",  # a new experiment that got the same id: nothing reused
        key="train_loss",
        level=2,
        stamps=_stamps(db_session, rids),
    )
    assert reads[-1] is None and all(_same(other[rid], _reference(db_session, rid)) for rid in rids)
