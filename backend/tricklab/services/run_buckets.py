"""Each run's bucket means of one rollup level, kept per process and re-read only for runs that got new points.

An experiment's curves read every run's buckets of one level: 64,512 rows for 1,024 runs of
1,000 steps, most of a curves request's time (issue 7). Between two page loads of a live
experiment only the running runs change. Metric points are insert-only and every write refreshes
the rollups in its own transaction, so a run whose point count, finite count and step range for a
key are unchanged has the same buckets: those are kept, keyed by the experiment (id and creation
time, so a reused id never matches) and level, and only the other runs are read again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from tricklab.services.driver_rows import driver_rows

# (experiment, generation, key, level) groups kept; a 1,024-run group holds ~1.5 MB of arrays.
MAX_GROUPS = 32
# Above this many runs to read, one query over the whole experiment instead of an id list.
_ID_LIST_MAX = 500

_COLUMNS = "run_id, bucket, first_step, CASE WHEN n_finite > 0 THEN value_sum / n_finite END"
_ALL_SQL = (
    f"SELECT {_COLUMNS} FROM metric_rollups WHERE key = {{0}} AND level = {{0}}"
    " AND run_id IN (SELECT id FROM runs WHERE experiment_id = {0}) ORDER BY run_id, bucket"
)
_SOME_SQL = f"SELECT {_COLUMNS} FROM metric_rollups WHERE key = {{0}} AND level = {{0}} AND run_id IN ({{ids}})"

Stamp = tuple[int, int, int, int]  # the run's points of the key: count, finite count, first step, last step


@dataclass(frozen=True)
class RunBuckets:
    """One run's occupied buckets of a level, the first step recorded in each, and the mean (NaN: no finite value)."""

    stamp: Stamp
    buckets: np.ndarray
    firsts: np.ndarray
    means: np.ndarray


class BucketMemo:
    """Groups of run id -> RunBuckets, the least recently used group dropped beyond ``max_groups``."""

    def __init__(self, max_groups: int = MAX_GROUPS) -> None:
        self.max_groups = max_groups
        self._groups: OrderedDict[Hashable, dict[int, RunBuckets]] = OrderedDict()
        self._lock = threading.Lock()

    def group(self, key: Hashable) -> dict[int, RunBuckets]:
        """The group's dict (created empty), marked most recently used."""
        with self._lock:
            found = self._groups.get(key)
            if found is None:
                found = self._groups[key] = {}
                while len(self._groups) > self.max_groups:
                    self._groups.popitem(last=False)
            self._groups.move_to_end(key)
            return found

    def clear(self) -> None:
        """Forget every group."""
        with self._lock:
            self._groups.clear()

    def __len__(self) -> int:
        return len(self._groups)


MEMO = BucketMemo()


def _read(db_session: Session, experiment_id: int, key: str, level: int, run_ids: list[int] | None) -> np.ndarray:
    """(run id, bucket, first step, mean) rows sorted by run and bucket, as floats (steps stay exact below 2**53)."""
    if run_ids is None:
        rows = driver_rows(db_session, _ALL_SQL, (key, level, experiment_id))
    else:
        rows = []
        for i in range(0, len(run_ids), _ID_LIST_MAX):
            chunk = run_ids[i : i + _ID_LIST_MAX]
            sql = _SOME_SQL.replace("{ids}", ", ".join(["{0}"] * len(chunk)))
            rows.extend(driver_rows(db_session, sql, (key, level, *chunk)))
    out = np.array(rows, dtype=float).reshape(-1, 4)
    return out[np.lexsort((out[:, 1], out[:, 0]))]


def load(
    *, db_session: Session, experiment_id: int, generation: Hashable, key: str, level: int, stamps: Mapping[int, Stamp]
) -> dict[int, RunBuckets]:
    """The buckets of every run in ``stamps``, read from the rollups only where a run's stamp changed."""
    group = MEMO.group((experiment_id, generation, key, level))
    stale = [rid for rid, stamp in stamps.items() if (got := group.get(rid)) is None or got.stamp != stamp]
    if stale:
        everything = len(stale) > _ID_LIST_MAX or len(stale) == len(stamps)
        cols = _read(db_session, experiment_id, key, level, None if everything else sorted(stale))
        run_col = cols[:, 0].astype(np.int64)
        starts = np.flatnonzero(np.r_[True, run_col[1:] != run_col[:-1]]) if run_col.size else np.zeros(0, int)
        wanted = set(stale)
        for lo, hi in zip(starts.tolist(), [*starts[1:].tolist(), run_col.size], strict=True):
            rid = int(run_col[lo])
            if rid in wanted:
                part = cols[lo:hi]
                group[rid] = RunBuckets(
                    stamp=stamps[rid],
                    buckets=part[:, 1].astype(np.int64),
                    firsts=part[:, 2].astype(np.int64),
                    means=part[:, 3].copy(),
                )
                wanted.discard(rid)
        empty = np.zeros(0, dtype=np.int64)
        for rid in wanted:  # no bucket at this level (never the case while rollups span every level)
            group[rid] = RunBuckets(stamp=stamps[rid], buckets=empty, firsts=empty, means=np.zeros(0))
    return {rid: group[rid] for rid in stamps}
