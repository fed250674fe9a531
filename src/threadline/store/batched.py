"""Many rows in few statements: ``INSERT ... VALUES (...), (...), ...`` instead of ``executemany``.

``executemany`` steps its statement once per row and releases the GIL around
every step. Next to a CPU-bound application thread the export thread then waits
for the GIL on each statement (up to the interpreter's switch interval, 5 ms),
falls behind, and the batch queue drops spans. A statement of many rows takes
the GIL back once, so what counts beside a busy application is statements per
batch: rows go :data:`PARAMETERS_PER_STATEMENT` parameters to a statement (a
512-span batch of one shape in two). Measured in a tight LangGraph loop, that
beats statements of fixed sizes that stay prepared: preparing one costs ~0.2 µs
a parameter, and more statements cost more waits for the GIL. The connection's
statement cache (sqlite3's 128) bounds what the prepared ones hold (~90 bytes a
parameter).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

__all__ = ["IDS_PER_STATEMENT", "PARAMETERS_PER_STATEMENT", "in_lists", "insert_rows", "parts", "value_rows"]

T = TypeVar("T")

PARAMETERS_PER_STATEMENT = 8192
"""Bound parameters of a multi-row statement at most (SQLite allows 32,766 since 3.32): ~300 span rows."""

IDS_PER_STATEMENT = 500
"""Values in one ``IN (...)`` list at most."""


def parts(rows: Sequence[Sequence[Any]]) -> Iterator[Sequence[Sequence[Any]]]:
    """``rows`` in slices of at most :data:`PARAMETERS_PER_STATEMENT` parameters (by the first row's width)."""
    if not rows:
        return
    size = max(1, PARAMETERS_PER_STATEMENT // max(1, len(rows[0])))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def in_lists(values: Sequence[T], size: int = IDS_PER_STATEMENT) -> Iterator[tuple[str, Sequence[T]]]:
    """``values`` in slices of ``size``, each with its placeholders ``"?, ?, ..."`` for an ``IN (...)`` list."""
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        yield ", ".join("?" * len(chunk)), chunk


def value_rows(width: int, rows: int) -> str:
    """``(?, ?), (?, ?)``: the placeholders of ``rows`` rows of ``width`` parameters after ``VALUES``."""
    one = f"({', '.join('?' * width)})"
    return ", ".join([one] * rows)


def insert_rows(conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run ``head`` (``"INSERT ... (a, b) VALUES"``) for ``rows``, in :func:`parts`."""
    for part in parts(rows):
        conn.execute(f"{head} {value_rows(len(part[0]), len(part))}", [value for row in part for value in row])
