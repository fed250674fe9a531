"""Many rows in few statements: ``INSERT ... VALUES (...), (...), ...`` instead of ``executemany``.

``executemany`` steps its statement once per row and releases the GIL around
every step. Next to a CPU-bound application thread the export thread then waits
for the GIL on each statement (up to the interpreter's switch interval), falls
behind, and the batch queue drops spans. A statement of many rows takes the GIL
back once.

A statement's text depends on its number of rows, and preparing a statement
costs about as much as running it (~0.2 µs a parameter); SQLite keeps a
prepared statement in its cache (~90 bytes a parameter). So rows go in slices
whose sizes are powers of two, up to :data:`PARAMETERS_PER_STATEMENT`
parameters, and a last slice of fewer than 16 rows: a handful of statements a
batch, of a few sizes that stay prepared, and a bounded cache.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

__all__ = ["IDS_PER_STATEMENT", "PARAMETERS_PER_STATEMENT", "chunks", "insert_rows", "parts"]

T = TypeVar("T")

PARAMETERS_PER_STATEMENT = 4096
"""Bound parameters of a multi-row statement at most (SQLite allows 32,766 since 3.32): 128 span rows."""

_LAST_ROWS = 16  # below this many rows, one statement of any size (small: cheap to prepare and keep)

IDS_PER_STATEMENT = 500
"""Values in one ``IN (...)`` list at most."""


def parts(rows: Sequence[T], *, width: int | None = None) -> Iterator[Sequence[T]]:
    """``rows`` in slices of power-of-two sizes under :data:`PARAMETERS_PER_STATEMENT` parameters, then < 16 rows.

    ``width``: parameters per row (default: the first row's length).
    """
    if not rows:
        return
    width = len(rows[0]) if width is None else width  # type: ignore[arg-type]
    most = max(1, PARAMETERS_PER_STATEMENT // max(1, width))
    most = 1 << (most.bit_length() - 1)
    least = min(_LAST_ROWS, most)
    start, total = 0, len(rows)
    while start < total:
        left = total - start
        size = most if left >= most else (1 << (left.bit_length() - 1) if left >= least else left)
        yield rows[start : start + size]
        start += size


def chunks(values: Sequence[T], size: int = IDS_PER_STATEMENT) -> Iterator[Sequence[T]]:
    """``values`` in slices of ``size`` (an ``IN (...)`` list binds one parameter a value; its text is short)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def insert_rows(conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run ``head`` (``"INSERT ... (a, b) VALUES"``) for ``rows``, in :func:`parts`."""
    if not rows:
        return
    one = f"({', '.join('?' * len(rows[0]))})"
    for part in parts(rows):
        conn.execute(f"{head} {', '.join([one] * len(part))}", [value for row in part for value in row])
