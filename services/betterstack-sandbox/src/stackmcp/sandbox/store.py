"""In-memory tables with sequential integer ids per resource.

A row is a plain dict: ``id`` (int), the resource's attributes, and private bookkeeping keys that
start with ``_`` (never serialised). Everything runs on one event loop and no handler awaits
between reading and writing, so no locking is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from stackmcp.sandbox.errors import not_found

__all__ = ["Row", "Store", "Table", "parse_id"]

Row = dict[str, Any]


def parse_id(raw: object) -> int | None:
    """Turn a path segment or body value into an id; None if it is not a positive integer."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw > 0 else None
    if isinstance(raw, str) and raw.isdigit() and raw.isascii():
        value = int(raw)
        return value if value > 0 else None
    return None


class Table:
    """Rows of one resource, keyed by id, in insertion order."""

    def __init__(self) -> None:
        self.rows: dict[int, Row] = {}
        self.next_id = 1

    def insert(self, row: Row) -> Row:
        """Give ``row`` the next id and store it."""
        row["id"] = self.next_id
        self.next_id += 1
        self.rows[row["id"]] = row
        return row

    def get(self, raw_id: object) -> Row | None:
        """The row with this id (int or numeric string), or None."""
        row_id = parse_id(raw_id)
        return None if row_id is None else self.rows.get(row_id)

    def require(self, raw_id: object) -> Row:
        """The row with this id, or the 404 ``ApiError``."""
        row = self.get(raw_id)
        if row is None:
            raise not_found()
        return row

    def delete(self, row_id: int) -> None:
        """Remove a row if present."""
        self.rows.pop(row_id, None)

    def where(self, predicate: Callable[[Row], bool] | None = None, /, **equals: Any) -> list[Row]:
        """Rows matching every ``attribute=value`` pair and ``predicate``, in id order."""
        return [
            row
            for row in self.rows.values()
            if all(row.get(key) == value for key, value in equals.items())
            and (predicate is None or predicate(row))
        ]

    def __iter__(self) -> Iterator[Row]:
        return iter(list(self.rows.values()))

    def __len__(self) -> int:
        return len(self.rows)


class Store:
    """All tables of one sandbox, created on first use."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}

    def __getitem__(self, name: str) -> Table:
        table = self.tables.get(name)
        if table is None:
            table = self.tables[name] = Table()
        return table

    def clear(self) -> None:
        """Drop every table (ids start again at 1)."""
        self.tables.clear()

    def insert_many(self, name: str, rows: Iterable[Row]) -> list[Row]:
        """Insert several rows into table ``name``."""
        table = self[name]
        return [table.insert(row) for row in rows]
