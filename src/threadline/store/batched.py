"""Many rows in few statements: ``INSERT ... VALUES (...), (...), ...`` instead of ``executemany``.

``executemany`` steps its statement once per row and releases the GIL around
every step. Next to a CPU-bound application thread the export thread then waits
for the GIL on each statement (up to the interpreter's switch interval), falls
behind, and the batch queue drops spans. A statement of many rows takes the GIL
back once, so a whole export batch (512 spans) is one statement per table where
SQLite's limit on bound parameters allows it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["MAX_PARAMETERS", "ROWS_PER_STATEMENT", "insert_rows", "parts"]

ROWS_PER_STATEMENT = 512
"""Rows per statement at most: an export batch of OpenTelemetry's default size in one statement."""

MAX_PARAMETERS = 32_766
"""Bound parameters a statement may have: SQLite's default limit since 3.32 (CPython 3.10+ bundles a newer one)."""


def parts(
    rows: Sequence[Any], per_statement: int = ROWS_PER_STATEMENT, *, width: int | None = None
) -> Iterator[Sequence[Any]]:
    """``rows`` in slices of ``per_statement`` rows, fewer when the rows are so wide they would pass the limit.

    ``width``: parameters per row (default: the first row's length).
    """
    if not rows:
        return
    width = len(rows[0]) if width is None else width
    size = max(1, min(per_statement, MAX_PARAMETERS // max(1, width)))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def insert_rows(
    conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[Any]], per_statement: int = ROWS_PER_STATEMENT
) -> None:
    """Run ``head`` (``"INSERT ... (a, b) VALUES"``) for ``rows``, ``per_statement`` rows a statement at most."""
    if not rows:
        return
    one = f"({', '.join('?' * len(rows[0]))})"
    for part in parts(rows, per_statement):
        conn.execute(f"{head} {', '.join([one] * len(part))}", [value for row in part for value in row])
