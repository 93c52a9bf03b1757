"""Downsampled curve query: one metric of 1,000,000 points -> 1,000 buckets, server time.

Subject: ``tricklab.services.metrics.get_series`` (what ``GET /api/v1/runs/{id}/metrics/{key}``
runs), full range and a zoomed range, timed in-process; the HTTP round trip through the real
app is printed too. Reference (the "before"): the plain SQL min/max ``GROUP BY`` into 1,000
buckets that the service ran until the rollups existed. Checks every bucket's min and max
against a brute-force bucketing of the same points (no spike lost). Target: <= 50 ms.

    python benchmarks/bench_curve.py [--points 1000000] [--postgres]
    python benchmarks/bench_curve.py --quick
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import api_client, claimed_run, header, interleaved, parser, postgres_url, sqlite_url, verdict

TARGET_S = 0.050


def _values(n: int) -> list[float]:
    values = [math.sin(i / 5_000.0) + 0.05 * math.sin(i * 1.7) for i in range(n)]
    values[n * 7 // 9] = 1_000.0  # one spike each way: the buckets must keep them
    values[n * 2 // 9] = -1_000.0
    values[n // 3] = math.nan  # non-finite points count but have no value
    return values


def _check(series: object, values: list[float], lo: int, hi: int) -> None:
    """Every bucket's min/max equals the min/max of the points from its first step to the next bucket's."""
    from tricklab.schemas.api import MetricSeriesOut

    assert isinstance(series, MetricSeriesOut) and series.downsampled
    assert series.total_points == hi - lo + 1, (series.total_points, hi - lo + 1)
    edges = [*series.steps, hi + 1]
    for i in range(len(series.steps)):
        finite = [v for v in values[edges[i] : edges[i + 1]] if math.isfinite(v)]
        assert series.mins[i] == min(finite) and series.maxs[i] == max(finite), f"bucket {i} differs"
    in_range = [v for v in values[lo : hi + 1] if math.isfinite(v)]
    assert max(m for m in series.maxs if m is not None) == max(in_range)
    assert min(m for m in series.mins if m is not None) == min(in_range)


def _group_by_before(session: object, run_id: int, key: str, buckets: int) -> int:
    """The pre-rollup query: one min/max/avg GROUP BY over every point of the key."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session
    from tricklab.db.models import MetricPoint as P

    assert isinstance(session, Session)
    lo, hi = session.execute(select(func.min(P.step), func.max(P.step)).where(P.run_id == run_id, P.key == key)).one()
    bucket = ((P.step - int(lo)) * buckets // (int(hi) - int(lo) + 1)).label("b")
    rows = session.execute(
        select(bucket, func.min(P.step), func.avg(P.value), func.min(P.value), func.max(P.value))
        .where(P.run_id == run_id, P.key == key)
        .group_by(bucket)
        .order_by(bucket)
    ).all()
    return len(rows)


def bench(database_url: str, label: str, n: int, buckets: int, repeats: int) -> None:
    from fastapi.testclient import TestClient
    from tricklab.db.session import make_engine, make_session_factory
    from tricklab.reporting import MetricPoint
    from tricklab.services import metrics

    values = _values(n)
    with api_client(database_url) as client:
        assert isinstance(client, TestClient)
        run_id = claimed_run(client)
        engine = make_engine(database_url)
        sessions = make_session_factory(engine)
        t0 = time.perf_counter()
        for lo in range(0, n, 10_000):
            chunk = [MetricPoint("train_loss", s, values[s], 0.0) for s in range(lo, min(n, lo + 10_000))]
            with sessions() as s:
                metrics.log_metrics(db_session=s, run_id=run_id, attempt=1, points=chunk)
        print(f"   [{label}] stored {n} points (with rollups) in {time.perf_counter() - t0:.1f} s")
        zoom = (n // 10 + 3, n // 2 + 7)

        def full() -> float:
            with sessions() as s:
                t = time.perf_counter()
                series = metrics.get_series(db_session=s, run_id=run_id, key="train_loss", max_points=buckets)
                elapsed = time.perf_counter() - t
            _check(series, values, 0, n - 1)
            return elapsed

        def zoomed() -> float:
            with sessions() as s:
                t = time.perf_counter()
                series = metrics.get_series(
                    db_session=s,
                    run_id=run_id,
                    key="train_loss",
                    max_points=buckets,
                    start_step=zoom[0],
                    end_step=zoom[1],
                )
                elapsed = time.perf_counter() - t
            _check(series, values, *zoom)
            return elapsed

        def before() -> float:
            with sessions() as s:
                t = time.perf_counter()
                assert _group_by_before(s, run_id, "train_loss", buckets) == buckets
                return time.perf_counter() - t

        def http() -> float:
            t = time.perf_counter()
            r = client.get(f"/api/v1/runs/{run_id}/metrics/train_loss", params={"max_points": buckets})
            assert r.status_code == 200 and len(r.json()["steps"]) == buckets
            return time.perf_counter() - t

        result = interleaved(repeats, full=full, zoomed=zoomed, before=before, http=http)
        engine.dispose()
    ms = {k: type(v)([x * 1000 for x in v.values]) for k, v in result.items()}
    print(f"   [{label}] get_series full range -> {buckets}: {ms['full'].fmt(' ms')}")
    print(f"   [{label}] get_series zoomed {zoom[0]}..{zoom[1]}: {ms['zoomed'].fmt(' ms')}")
    print(f"   [{label}] HTTP GET (in-process client):  {ms['http'].fmt(' ms')}")
    print(f"   [{label}] before: plain GROUP BY:        {ms['before'].fmt(' ms')}")
    print(f"   [{label}] speedup over GROUP BY: {result['before'].median / result['full'].median:.0f}x")
    verdict(f"curve query {label}", result["full"].median <= TARGET_S, f"median {ms['full'].median:.1f} ms vs <= 50 ms")


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--buckets", type=int, default=1_000)
    p.add_argument("--postgres", action="store_true", help="also measure on PostgreSQL at 127.0.0.1:5432")
    args = p.parse_args()
    n, buckets, repeats = (20_000, 100, 1) if args.quick else (args.points, args.buckets, args.repeats)
    header(f"curve query, {n} points -> {buckets} buckets", args.quick)
    with sqlite_url() as url:
        bench(url, "sqlite", n, buckets, repeats)
    if args.postgres and not args.quick:
        with postgres_url() as url:
            if url is None:
                print("   [postgresql] skipped: no server at 127.0.0.1:5432")
            else:
                bench(url, "postgresql", n, buckets, repeats)


if __name__ == "__main__":
    main()
