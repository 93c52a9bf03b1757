"""Many rows in few statements, through the driver's cursor: what the DBAPI's ``executemany`` does slowly.

``executemany`` runs the statement once per row. On SQLite, Python's driver spent as long on
that loop as SQLite spent storing the rows: ``INSERT ... VALUES (...), (...), ...`` with up to
999 parameters per statement stored a 1,000-point batch in about half the time (1.8 -> 0.9-1.3 ms
in-thread, issue 7). On PostgreSQL a long VALUES list costs more to plan than it saves, and
psycopg's ``executemany`` is one statement per row too; there the rows go as one array per
column through ``unnest`` (one statement, 18 -> 8 ms per 1,000 points, same machine and load).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy.orm import Session

# Parameters per SQLite statement: 999 was SQLite's limit before 3.32 and is still that of some builds.
MAX_PARAMETERS = 999


@lru_cache(maxsize=512)  # one per (table, rows in the statement): at most ~250 in practice
def _values_statement(head: str, tail: str, width: int, n_rows: int) -> str:
    row = "(" + ", ".join(["?"] * width) + ")"
    return f"{head} VALUES {', '.join([row] * n_rows)}{tail}"


@lru_cache(maxsize=16)
def _unnest_statement(head: str, tail: str, types: tuple[str, ...]) -> str:
    arrays = ", ".join(f"%s::{t}[]" for t in types)
    return f"{head} SELECT * FROM unnest({arrays}){tail}"


def insert_rows(
    db_session: Session, head: str, tail: str, columns: Sequence[Sequence[object]], types: Sequence[str]
) -> int:
    """Insert rows given column by column; the number of rows the statements changed.

    ``head`` is ``INSERT INTO table (columns)``, ``tail`` an ``ON CONFLICT`` clause (or "");
    ``types`` are the columns' PostgreSQL types (for the arrays ``unnest`` reads).
    """
    if len(columns) != len(types):
        raise ValueError(f"{len(columns)} columns, {len(types)} types")
    n = len(columns[0]) if columns else 0
    if any(len(c) != n for c in columns):
        raise ValueError("columns differ in length")
    if n == 0:
        return 0
    connection = db_session.connection()
    cursor = connection.connection.cursor()
    try:
        if connection.dialect.name != "sqlite":
            cursor.execute(_unnest_statement(head, tail, tuple(types)), [list(c) for c in columns])
            return int(cursor.rowcount)
        width = len(columns)
        params: list[object] = [None] * (width * n)
        for i, column in enumerate(columns):
            params[i::width] = column
        step = (MAX_PARAMETERS // width) * width
        changed = 0
        for start in range(0, len(params), step):
            chunk = params[start : start + step]
            cursor.execute(_values_statement(head, tail, width, len(chunk) // width), chunk)
            changed += cursor.rowcount
        return changed
    finally:
        cursor.close()
