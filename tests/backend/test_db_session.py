"""SQLite connection settings and the write-transaction helper."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text
from tricklab.db.migrate import upgrade
from tricklab.db.session import begin_write, make_engine, make_session_factory, unit_of_work


def test_sqlite_pragmas(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'sub' / 'p.sqlite'}")
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        eng.dispose()


def test_unit_of_work_commits_and_rolls_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'u.sqlite'}"
    eng = make_engine(url)
    factory = make_session_factory(eng)
    try:
        with unit_of_work(factory, write=True) as s:
            s.execute(text("CREATE TABLE t (x INTEGER)"))
            s.execute(text("INSERT INTO t VALUES (1)"))
        try:
            with unit_of_work(factory, write=True) as s:
                s.execute(text("INSERT INTO t VALUES (2)"))
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        with factory() as s:
            assert s.execute(text("SELECT count(*) FROM t")).scalar() == 1
    finally:
        eng.dispose()


def test_concurrent_read_then_write_transactions_do_not_lock(tmp_path: Path) -> None:
    """Read-then-write transactions from several threads all succeed when begun as writers."""
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    upgrade(url)
    eng = make_engine(url)
    factory = make_session_factory(eng)
    with unit_of_work(factory, write=True) as s:
        s.execute(text("CREATE TABLE counter (n INTEGER)"))
        s.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(20):
                with factory() as s:
                    begin_write(s)
                    n = s.execute(text("SELECT n FROM counter")).scalar_one()
                    s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
                    s.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with factory() as s:
            assert s.execute(text("SELECT n FROM counter")).scalar() == 80
    finally:
        eng.dispose()
