"""Reading many rows through the driver's own cursor, for the experiment page's hot queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session


def driver_rows(db_session: Session, sql: str, params: Sequence[Any]) -> list[Any]:
    """Rows of ``sql`` (``{0}`` marks each parameter) through the driver's cursor, as the driver returns them.

    No SQLAlchemy Row objects or type processing: for the page's thousands of rows those cost
    more than the query itself (issue 7). Values come back raw: SQLite gives JSON and times as text.
    """
    connection = db_session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql.format(marker), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()
