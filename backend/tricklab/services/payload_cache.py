"""Experiment payloads (curves, analysis) kept as JSON bytes per process, valid while a fingerprint is unchanged.

Computing a 1,024-run page's curves and analysis took 100-300 ms per request (issue 7), while a
finished experiment never changes and a live one changes at most once per metric batch. The
fingerprint is a hash of every row the payloads read that can change: the experiment row, each
run's status, attempt, times and error, its final metrics, and per curve key each run's
coarsest rollup rows. Metric points are insert-only (``ON CONFLICT DO NOTHING``, never deleted
or updated) and every write refreshes the rollups in the same transaction, so a run's point
count per key, held in those rollup rows, changes with every point that can change a curve.
Reading the fingerprint costs a few milliseconds; a hit serves the stored bytes, and the hash is
also the response's ETag, so a client holding it gets 304 without the body.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tricklab.services import rollups
from tricklab.services.driver_rows import driver_rows

# Payload bytes kept per process: a 1,024-run curves payload is ~1 MB, its analysis ~0.1 MB.
MAX_BYTES = 64 * 1024 * 1024


def _code_version() -> str:
    """A digest of the tricklab package's source, read once per process.

    Another build may compute the same data differently (or the catalogs behind the design info
    may differ), and the version number does not change with every build: a browser's ETag from
    an older build must not get a 304.
    """
    root = Path(__file__).resolve().parents[1]
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


CODE_VERSION = _code_version()

_EXPERIMENT_SQL = "SELECT id, created_at, task, metric, direction, spec, resolved FROM experiments WHERE id = {0}"
_RUNS_SQL = (
    "SELECT id, combo_key, seed, status, attempt, started_at, finished_at, error FROM runs"
    " WHERE experiment_id = {0} ORDER BY id"
)
_FINALS_SQL = (
    "SELECT f.run_id, f.key, f.value, f.non_finite FROM final_metrics f JOIN runs r ON r.id = f.run_id"
    " WHERE r.experiment_id = {0} ORDER BY f.run_id, f.key"
)
_ROLLUPS_SQL = (
    "SELECT m.run_id, m.key, m.bucket, m.n_points, m.n_finite, m.first_step, m.last_step, m.value_sum"
    " FROM metric_rollups m JOIN runs r ON r.id = m.run_id"
    " WHERE r.experiment_id = {0} AND m.level = {0} AND m.key IN ({1}) ORDER BY m.run_id, m.key, m.bucket"
)


@dataclass(frozen=True)
class Payload:
    """A response body and its ETag; ``body`` is None when the client's copy (If-None-Match) is current."""

    etag: str
    body: bytes | None


def _rows(db_session: Session, sql: str, params: Sequence[Any], n_keys: int = 0) -> list[Any]:
    # ``{1}`` is a list of n_keys parameters; driver_rows fills the single ones
    return driver_rows(db_session, sql.replace("{1}", ", ".join(["{0}"] * n_keys)), params)


def fingerprint(*, db_session: Session, experiment_id: int, curve_keys: Sequence[str], final_metrics: bool) -> bytes:
    """A digest of the experiment's changeable state: runs, optionally final metrics, and these keys' rollups."""
    h = hashlib.blake2b(digest_size=20)
    h.update(repr(_rows(db_session, _EXPERIMENT_SQL, [experiment_id])).encode())
    h.update(repr(_rows(db_session, _RUNS_SQL, [experiment_id])).encode())
    if final_metrics:
        h.update(b"finals" + repr(_rows(db_session, _FINALS_SQL, [experiment_id])).encode())
    keys = sorted(set(curve_keys))
    if keys:
        # the coarsest level: one row per (run, key) below ~1M steps, holding the run's point count
        params = [experiment_id, rollups.LEVELS[-1], *keys]
        h.update(b"rollups" + repr(keys).encode() + repr(_rows(db_session, _ROLLUPS_SQL, params, len(keys))).encode())
    return h.digest()


def make_etag(kind: str, experiment_id: int, params: Hashable, digest: bytes) -> str:
    """A strong ETag for one payload: the code version, the request's parameters and the state's fingerprint."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((CODE_VERSION, kind, experiment_id, params)).encode())
    h.update(digest)
    return f'"{h.hexdigest()}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names this ETag (weak comparison, as RFC 9110 asks for GET)."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return any(t == "*" or t.removeprefix("W/") == etag for t in tags)


class PayloadCache:
    """Payload bytes per (kind, experiment, parameters), least recently used evicted beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[str, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, etag: str) -> bytes | None:
        """The stored body when it was stored under this ETag (the same state), else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != etag:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, etag: str, body: bytes) -> None:
        """Store a body, replacing the key's older state and evicting the least recently used beyond the budget."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old[1])
            if len(body) > self.max_bytes:
                return
            self._entries[key] = (etag, body)
            self._size += len(body)
            while self._size > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._size -= len(evicted)

    def clear(self) -> None:
        """Forget every stored payload."""
        with self._lock:
            self._entries.clear()
            self._size = 0

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size

    def __len__(self) -> int:
        return len(self._entries)


CACHE = PayloadCache()
