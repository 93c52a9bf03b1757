"""Write statements on a hot path, compiled once per dialect and run through the driver's cursor.

Every queued run pays a claim and a finish. Executing their statements through SQLAlchemy
(parameter processing, result set-up, execution events) cost about three times the statements
themselves on SQLite: a finish-and-claim transaction took ~1 ms through Core and ~0.25 ms
through the cursor (issue 7, benchmarks/bench_queue.py). The statements are still written
with Core, the one source of their SQL; only their execution skips the machinery. Bound values
go through their column types' own bind processors (a timestamp is stored exactly as Core
would store it); rows come back as the driver returns them (SQLite gives JSON as text).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...] | None  # parameter names in placeholder order; None for named paramstyles
    constants: dict[str, Any]  # values the statement fixes itself (literals, IN lists), already processed
    processors: dict[str, Callable[[Any], Any]]
    required: frozenset[str]

    def bind(self, params: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        missing = self.required - params.keys()
        if missing:
            raise KeyError(f"missing statement parameters: {sorted(missing)}")
        values = dict(self.constants)
        for name in self.required:
            processor = self.processors.get(name)
            value = params[name]
            values[name] = processor(value) if processor is not None else value
        if self.positions is None:
            return values
        return tuple(values[name] for name in self.positions)


def _compile(statement: ClauseElement, dialect: Dialect) -> _Compiled:
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    required = {name: None for name, bind in compiled.binds.items() if bind.required}
    # Renders IN lists as one placeholder per value (Core expands them per execution).
    expanded = compiled.construct_expanded_state(required)
    processors: dict[str, Callable[[Any], Any]] = {}
    for name, bind in compiled.binds.items():
        processor = bind.type.bind_processor(dialect)
        if processor is not None:
            processors[name] = processor
    processors.update(expanded.processors)
    constants = {
        name: processors[name](value) if name in processors else value
        for name, value in expanded.parameters.items()
        if name not in required
    }
    return _Compiled(
        sql=expanded.statement,
        positions=tuple(expanded.positiontup) if expanded.positiontup is not None else None,
        constants=constants,
        processors=processors,
        required=frozenset(required),
    )


class DriverStatement:
    """One Core statement, compiled on first use per dialect and executed through the DBAPI cursor."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        """The statement as ``dialect`` runs it (compiled once per dialect name and paramstyle)."""
        key = f"{dialect.name}:{dialect.paramstyle}"
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _compile(self.statement, dialect)
        return compiled

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run once inside ``connection``'s transaction; the first row it returns (RETURNING, SELECT), else None."""
        compiled = self.compiled(connection.dialect)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(compiled.sql, compiled.bind(params))
            if cursor.description is None:
                return None
            row = cursor.fetchone()
            return None if row is None else tuple(row)
        finally:
            cursor.close()

    def execute_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per parameter set in ``rows`` (the driver's executemany), inside ``connection``'s transaction."""
        if not rows:
            return
        compiled = self.compiled(connection.dialect)
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(compiled.sql, cast(Any, [compiled.bind(row) for row in rows]))
        finally:
            cursor.close()


def json_value(raw: Any) -> Any:
    """A JSON column's value as the driver returned it, decoded (SQLite: text; PostgreSQL's JSONB: decoded already)."""
    return json.loads(raw) if isinstance(raw, str | bytes) else raw
