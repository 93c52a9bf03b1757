"""Metric ingestion through the reporting path vs raw executemany into the same database.

Subject: ``POST /api/v1/runs/{id}/metrics`` (the REST transport remote workers use) in
batches of ``--batch`` points, measured two ways: through ``RestRunReporter.log_metrics``
(the worker's own client: columnar body, keep-alive httpx) against a real
``tricklab server`` (uvicorn) over loopback HTTP, and with the same body through the real
app in-process (Starlette's test client). Both include JSON, validation, the token and
attempt checks, the idempotent insert and the rollup refresh.
Reference: one DBAPI ``executemany`` of the same rows (one key) into the same ``metrics``
table of the same database, in one transaction: the floor any store can reach.
Target: subject/raw >= 0.30.

    python benchmarks/bench_ingest.py            # SQLite, and PostgreSQL when 127.0.0.1:5432 answers
    python benchmarks/bench_ingest.py --quick
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
    start_tricklab,
    stop_tricklab,
    verdict,
)

TARGET = 0.30


def _rows(n: int) -> list[tuple[int, float, float]]:
    return [(step, 1.0 / (step + 1), 1_700_000_000.0 + step * 0.01) for step in range(n)]


@contextmanager
def served(database_url: str) -> Iterator[str]:
    """``tricklab server`` (uvicorn, one process) on ``database_url``; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="tricklab-bench-server-") as d:
        env = {
            **os.environ,
            "TRICKLAB_DATA_DIR": d,
            "TRICKLAB_DATABASE_URL": database_url,
            "TRICKLAB_BROKER_URL": "memory://",
            # the benchmark holds its run's lease without heartbeats: the reaper must not take it back
            "TRICKLAB_LEASE_SECONDS": "86400",
        }
        proc, base = start_tricklab(["server", "--loglevel", "WARNING"], env=env, log_path=Path(d) / "server.log")
        try:
            yield base
        finally:
            stop_tricklab(proc)


def bench_database(
    database_url: str, label: str, n_points: int, batch: int, repeats: int, *, points_form: bool
) -> bool:
    from sqlalchemy import create_engine, func, select
    from tricklab.db.models import MetricPoint
    from tricklab.reporting import MetricPoint as ReportedPoint
    from tricklab_worker.rest_reporter import RestRunReporter

    rows = _rows(n_points)
    token = os.environ["TRICKLAB_ADMIN_TOKEN"]
    with api_client(database_url) as client, served(database_url) as base:
        run_id = claimed_run(client)
        reporter = RestRunReporter(base, token, retry_seconds=0)
        engine = create_engine(database_url)
        counter = iter(range(10**6))
        paramstyle = "?" if engine.dialect.name == "sqlite" else "%s"
        raw_sql = (
            "INSERT INTO metrics (run_id, key, step, value, non_finite, wall_time) "
            f"VALUES ({', '.join([paramstyle] * 6)})"
        )

        def http() -> float:
            # what a remote worker does: its reporter, a keep-alive connection, a real server
            key = f"http_{next(counter)}"
            chunks = [
                [ReportedPoint(key=key, step=s, value=v, wall_time=w) for s, v, w in rows[lo : lo + batch]]
                for lo in range(0, n_points, batch)
            ]
            t0 = time.perf_counter()
            for points in chunks:
                reporter.log_metrics(run_id=run_id, attempt=1, points=points)
            return n_points / (time.perf_counter() - t0)

        def in_process() -> float:
            # the same columnar ``series`` body through the in-process test client (no TCP)
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

        subjects = {"http": http, "raw": raw, "in_process": in_process}
        if points_form:
            subjects["api_points"] = api_points
        result = interleaved(repeats, **subjects)
        reporter.close()
        with engine.connect() as conn:
            for prefix in ("http_", "api_"):
                stored = conn.scalar(
                    select(func.count()).select_from(MetricPoint).where(MetricPoint.key.like(f"{prefix}%"))
                )
                assert stored == n_points * repeats, f"{prefix}: expected {n_points * repeats} points, found {stored}"
        engine.dispose()
    ratio = ratios(result["http"], result["raw"])
    print(f"   [{label}] RestRunReporter -> tricklab server (HTTP): {result['http'].fmt(' rows/s')}")
    print(f"   [{label}] same body, in-process client:            {result['in_process'].fmt(' rows/s')}")
    print(f"   [{label}] raw executemany:                          {result['raw'].fmt(' rows/s')}")
    print(f"   [{label}] ratio in-process/raw:                     {ratios(result['in_process'], result['raw']).fmt()}")
    if points_form:
        points_ratio = ratios(result["api_points"], result["raw"])
        print(f"   [{label}] ratio points form in-process/raw:         {points_ratio.fmt()}")
    print(f"   [{label}] ratio HTTP/raw:                           {ratio.fmt()}")
    ok = ratio.median >= TARGET
    verdict(f"ingestion {label}, batches of {batch}", ok, f"median ratio HTTP/raw {ratio.median:.3f} vs >= {TARGET}")
    return ok


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=200_000, help="points per repetition")
    p.add_argument("--batch", type=int, default=1_000, help="points per POST")
    p.add_argument("--points-form", action="store_true", help="also time the older one-object-per-point body")
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--no-sqlite", action="store_true")
    args = p.parse_args()
    n_points, repeats = (2_000, 1) if args.quick else (args.points, args.repeats)
    points_form = args.points_form or args.quick
    header(f"metric ingestion, {n_points} points in batches of {args.batch}", args.quick)
    if not args.no_sqlite:
        with sqlite_url() as url:
            bench_database(url, "sqlite", n_points, args.batch, repeats, points_form=points_form)
    if args.no_postgres or args.quick:
        return
    with postgres_url() as url:
        if url is None:
            print("   [postgresql] skipped: no server at 127.0.0.1:5432")
            return
        bench_database(url, "postgresql", n_points, args.batch, repeats, points_form=points_form)


if __name__ == "__main__":
    main()
