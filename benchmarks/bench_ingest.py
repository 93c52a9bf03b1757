"""Metric ingestion through the reporting path vs raw executemany into the same database.

Subject: ``POST /api/v1/runs/{id}/metrics`` (the REST transport remote workers use) in
batches of ``--batch`` points: JSON encoding, pydantic validation, the attempt check,
the idempotent insert and the rollup refresh, through the real app in-process.
Reference: one DBAPI ``executemany`` of the same rows (one key) into the same ``metrics``
table, in one transaction: the floor any store can reach. Target: subject/raw >= 0.30.

    python benchmarks/bench_ingest.py            # SQLite, and PostgreSQL when 127.0.0.1:5432 answers
    python benchmarks/bench_ingest.py --quick
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    api_client,
    claimed_run,
    header,
    interleaved,
    parser,
    postgres_url,
    ratios,
    sqlite_url,
    verdict,
)

TARGET = 0.30


def _rows(n: int) -> list[tuple[int, float, float]]:
    return [(step, 1.0 / (step + 1), 1_700_000_000.0 + step * 0.01) for step in range(n)]


def bench_database(database_url: str, label: str, n_points: int, batch: int, repeats: int) -> bool:
    from sqlalchemy import create_engine, func, select
    from tricklab.db.models import MetricPoint

    rows = _rows(n_points)
    with api_client(database_url) as client:
        run_id = claimed_run(client)
        engine = create_engine(database_url)
        counter = iter(range(10**6))
        paramstyle = "?" if engine.dialect.name == "sqlite" else "%s"
        raw_sql = (
            "INSERT INTO metrics (run_id, key, step, value, non_finite, wall_time) "
            f"VALUES ({', '.join([paramstyle] * 6)})"
        )

        def api() -> float:
            # the columnar ``series`` form RestRunReporter sends
            key = f"api_{next(counter)}"
            t0 = time.perf_counter()
            for lo in range(0, n_points, batch):
                chunk = rows[lo : lo + batch]
                series = {
                    "key": key,
                    "steps": [r[0] for r in chunk],
                    "values": [r[1] for r in chunk],
                    "wall_times": [r[2] for r in chunk],
                }
                response = client.post(f"/api/v1/runs/{run_id}/metrics", json={"attempt": 1, "series": [series]})
                assert response.status_code == 204, response.text
            return n_points / (time.perf_counter() - t0)

        def api_points() -> float:
            # the original one-object-per-point form, still accepted
            key = f"pts_{next(counter)}"
            t0 = time.perf_counter()
            for lo in range(0, n_points, batch):
                points = [{"key": key, "step": s, "value": v, "wall_time": w} for s, v, w in rows[lo : lo + batch]]
                response = client.post(f"/api/v1/runs/{run_id}/metrics", json={"attempt": 1, "points": points})
                assert response.status_code == 204, response.text
            return n_points / (time.perf_counter() - t0)

        def raw() -> float:
            key = f"raw_{next(counter)}"
            params = [(run_id, key, s, v, None, w) for s, v, w in rows]
            t0 = time.perf_counter()
            conn = engine.raw_connection()
            try:
                cursor = conn.cursor()
                cursor.executemany(raw_sql, params)
                conn.commit()
            finally:
                conn.close()
            return n_points / (time.perf_counter() - t0)

        result = interleaved(repeats, api=api, raw=raw, api_points=api_points)
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(MetricPoint).where(MetricPoint.key.like("api_%")))
        engine.dispose()
    assert stored == n_points * repeats, f"expected {n_points * repeats} points stored, found {stored}"
    ratio = ratios(result["api"], result["raw"])
    points_ratio = ratios(result["api_points"], result["raw"])
    print(f"   [{label}] REST batch endpoint: {result['api'].fmt(' rows/s')}")
    print(f"   [{label}] same, points form:   {result['api_points'].fmt(' rows/s')}, ratio {points_ratio.fmt()}")
    print(f"   [{label}] raw executemany:     {result['raw'].fmt(' rows/s')}")
    print(f"   [{label}] ratio api/raw:       {ratio.fmt()}")
    ok = ratio.median >= TARGET
    verdict(f"ingestion {label}", ok, f"median ratio {ratio.median:.3f} vs >= {TARGET}")
    return ok


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=200_000, help="points per repetition")
    p.add_argument("--batch", type=int, default=1_000, help="points per POST")
    p.add_argument("--no-postgres", action="store_true")
    args = p.parse_args()
    n_points, repeats = (2_000, 1) if args.quick else (args.points, args.repeats)
    header(f"metric ingestion, {n_points} points in batches of {args.batch}", args.quick)
    with sqlite_url() as url:
        bench_database(url, "sqlite", n_points, args.batch, repeats)
    if args.no_postgres or args.quick:
        return
    with postgres_url() as url:
        if url is None:
            print("   [postgresql] skipped: no server at 127.0.0.1:5432")
            return
        bench_database(url, "postgresql", n_points, args.batch, repeats)


if __name__ == "__main__":
    main()
