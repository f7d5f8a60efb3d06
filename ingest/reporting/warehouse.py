"""Read-only access to the warehouse for the report: which tables exist and hold rows, and query
results as dicts of plain Python values.

Why a thin wrapper: every section must tell "the table is missing" and "the table is empty" apart
from "here are the numbers", and must never write (the report can run while nobody holds the
writer lock). The connection is opened read-only and in UTC, so day buckets are UTC days."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

WAREHOUSE_FILE = "warehouse.duckdb"


def plain(value: Any) -> Any:
    """A JSON-ready value: Decimal and HUGEINT as numbers, NaN/inf as None, lists element-wise
    (timestamps stay datetimes here; the writers format them)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Warehouse:
    """An open read-only connection and the names of the relations it holds."""

    connection: duckdb.DuckDBPyConnection
    relations: frozenset[str]
    path: Path

    def has(self, table: str) -> bool:
        return table in self.relations

    def status(self, table: str) -> str:
        """'ok', 'missing' or 'empty'."""
        if table not in self.relations:
            return "missing"
        row = self.connection.execute(f'select exists (select 1 from "{table}")').fetchone()
        return "ok" if row and row[0] else "empty"

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of `sql` as a dict column -> plain value."""
        cursor = self.connection.execute(sql, list(parameters))
        names = [d[0] for d in cursor.description or ()]
        return [{name: plain(value) for name, value in zip(names, row)} for row in cursor.fetchall()]

    def one(self, sql: str, parameters: Sequence[Any] = ()) -> dict[str, Any] | None:
        found = self.rows(sql, parameters)
        return found[0] if found else None


@contextmanager
def open_warehouse(data_root: Path) -> Iterator[Warehouse]:
    """The warehouse of `data_root`, read-only; FileNotFoundError when there is none."""
    path = Path(data_root) / WAREHOUSE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no warehouse at {path}: build it first (make demo, or dbt build)")
    connection = duckdb.connect(str(path), read_only=True)
    try:
        connection.execute("set TimeZone = 'UTC'")
        names = connection.execute(
            "select table_name from information_schema.tables where table_schema = current_schema()").fetchall()
        yield Warehouse(connection, frozenset(str(n[0]) for n in names), path)
    finally:
        connection.close()


def iso(value: Any) -> Any:
    """Timestamps and dates as ISO 8601 text (UTC timestamps end in +00:00); other values unchanged."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
