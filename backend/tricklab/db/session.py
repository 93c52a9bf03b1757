"""Engine and session factory, with the SQLite settings concurrent writers need.

SQLite: WAL (readers never block the writer), a busy timeout (a writer waits
for the lock instead of failing), foreign keys on, and transactions begun by us
rather than by pysqlite so savepoints work and write transactions can start
with ``BEGIN IMMEDIATE`` (see ``begin_write``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "tricklab_sqlite_begin"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_file(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    connect_args.update(kwargs.pop("connect_args", {}))
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite would otherwise open transactions lazily and behind SQLAlchemy's back.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def make_session_factory(engine: Engine | Connection, **kwargs: Any) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (rows are converted to schemas afterwards)."""
    kwargs.setdefault("expire_on_commit", False)
    return sessionmaker(bind=engine, **kwargs)


def begin_write(db_session: Session) -> None:
    """Start the session's transaction as a writer on SQLite.

    A deferred SQLite transaction that reads and then writes fails at once with
    "database is locked" when another writer committed in between (the busy
    timeout does not apply), so write paths take the lock up front. A no-op
    inside an already open transaction and on other databases.
    """
    if db_session.in_transaction():
        return
    bind = db_session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    db_session.connection(execution_options={_BEGIN_OPTION: "IMMEDIATE"})


@contextmanager
def unit_of_work(session_factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    with session_factory() as db_session:
        if write:
            begin_write(db_session)
        try:
            yield db_session
            db_session.commit()
        except BaseException:
            db_session.rollback()
            raise
