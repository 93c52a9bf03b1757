"""Rollups of a batch of new points, merged into ``metric_rollups`` without reading the points back.

``rollups.refresh`` recomputes every touched bucket from the level below (level 2 from the
points): nine statements per batch, the first a GROUP BY that re-reads the just-written
points through a temporary B-tree. When every point of a batch was new (the insert stored
all of its rows: none was there before, none repeated in the batch), the batch's own
summaries are computed here and added to the stored ones instead: first/last step, counts,
sum, min and max all merge exactly over disjoint sets of points, in any step order, so
out-of-order batches merge too. One upsert writes every level (on SQLite one statement per
90 rows: a 1,000-step batch has ~90). Sums are added in another order than a recompute adds
them, so they may differ from it in the last bits; every other column is identical (tested
against the recompute). Re-sent or overlapping batches keep taking ``rollups.refresh``: the
caller decides by the insert's row count.

On PostgreSQL two concurrent merges into one bucket add up (the upsert adds to the latest
committed row). A recompute beside a concurrent writer of the same key can still miss that
writer's points, as before this module; the worker sends one batch at a time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from itertools import islice
from operator import lt
from typing import cast

from sqlalchemy.orm import Session

from tricklab.services import multi_row
from tricklab.services.rollups import COLUMNS, FAN_IN, LEVELS, width

# (bucket, first_step, last_step, n_points, n_finite, value_sum, value_min, value_max) of one bucket's new points.
Summary = tuple[int, int, int, int, int, float | None, float | None, float | None]


def _merged(column: str, pick: str) -> str:
    """The stored or the new value of ``column``, whichever ``pick`` (``<=`` keeps the smaller) prefers; NULL loses."""
    old, new = f"metric_rollups.{column}", f"excluded.{column}"
    return f"{column} = CASE WHEN {old} {pick} {new} THEN {old} ELSE COALESCE({new}, {old}) END"


_HEAD = f"INSERT INTO metric_rollups ({COLUMNS})"
# Portable between SQLite and PostgreSQL: no two-argument min/max (LEAST/GREATEST), which the two spell differently.
_TAIL = " ON CONFLICT (run_id, key, level, bucket) DO UPDATE SET " + ", ".join(
    [
        _merged("first_step", "<="),
        _merged("last_step", ">="),
        "n_points = metric_rollups.n_points + excluded.n_points",
        "n_finite = metric_rollups.n_finite + excluded.n_finite",
        "value_sum = COALESCE(metric_rollups.value_sum + excluded.value_sum, metric_rollups.value_sum,"
        " excluded.value_sum)",
        _merged("value_min", "<="),
        _merged("value_max", ">="),
    ]
)
_TYPES = (
    "bigint",
    "varchar",
    "integer",
    "bigint",
    "bigint",
    "bigint",
    "bigint",
    "bigint",
    "float8",
    "float8",
    "float8",
)


def summarize_points(steps: Sequence[int], values: Sequence[float | None]) -> list[Summary]:
    """Level-2 summaries of distinct steps and their stored values (None: non-finite), ordered by bucket."""
    if not all(map(lt, steps, islice(steps, 1, None))):
        order = sorted(range(len(steps)), key=steps.__getitem__)
        steps = [steps[i] for i in order]
        values = [values[i] for i in order]
    all_finite = None not in values
    w = width(LEVELS[0])
    out: list[Summary] = []
    i, n = 0, len(steps)
    while i < n:
        bucket = steps[i] // w
        # sorted steps: this bucket's points end where the next bucket's first step would go
        j = bisect_left(steps, (bucket + 1) * w, i, n)
        chunk = cast("Sequence[float]", values[i:j]) if all_finite else [v for v in values[i:j] if v is not None]
        if chunk:
            out.append((bucket, steps[i], steps[j - 1], j - i, len(chunk), sum(chunk), min(chunk), max(chunk)))
        else:
            out.append((bucket, steps[i], steps[j - 1], j - i, 0, None, None, None))
        i = j
    return out


def _sum(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def summarize_parents(children: Sequence[Summary]) -> list[Summary]:
    """The next level's summaries of bucket-ordered ``children``: a parent covers ``FAN_IN`` consecutive buckets."""
    out: list[Summary] = []
    for bucket, first, last, n, n_finite, total, low, high in children:
        parent = bucket // FAN_IN
        if out and out[-1][0] == parent:
            # the children partition the steps in bucket order: the parent keeps its first step, takes the last one
            _, p_first, _, p_n, p_finite, p_total, p_low, p_high = out[-1]
            out[-1] = (
                parent,
                p_first,
                last,
                p_n + n,
                p_finite + n_finite,
                _sum(p_total, total),
                _min(p_low, low),
                _max(p_high, high),
            )
        else:
            out.append((parent, first, last, n, n_finite, total, low, high))
    return out


def merge(
    db_session: Session, run_id: int, columns_by_key: Mapping[str, tuple[Sequence[int], Sequence[float | None]]]
) -> None:
    """Add the summaries of these just-inserted points to every level, in the caller's transaction.

    Only for points that were all new: a point already stored would be counted twice.
    """
    rows: list[tuple[object, ...]] = []
    for key, (steps, values) in columns_by_key.items():
        summaries = summarize_points(steps, values)
        for level in LEVELS:
            if level != LEVELS[0]:
                summaries = summarize_parents(summaries)
            rows.extend((run_id, key, level, *summary) for summary in summaries)
    if rows:
        multi_row.insert_rows(db_session, _HEAD, _TAIL, list(zip(*rows, strict=True)), _TYPES)
