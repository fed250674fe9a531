"""Many rows in few statements: ``INSERT ... VALUES (...), (...), ...`` instead of ``executemany``.

``executemany`` steps its statement once per row and releases the GIL around
every step. Next to a CPU-bound application thread the export thread then waits
for the GIL on each row (up to the interpreter's switch interval), falls behind,
and the batch queue drops spans. A statement of many rows takes the GIL back once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

__all__ = ["ROWS_PER_STATEMENT", "insert_rows"]

ROWS_PER_STATEMENT = 64
"""Rows per statement (kept well under SQLite's limit on bound parameters)."""


def insert_rows(
    conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[Any]], per_statement: int = ROWS_PER_STATEMENT
) -> None:
    """Run ``head`` (``"INSERT ... (a, b) VALUES"``) for ``rows``, ``per_statement`` rows a statement."""
    if not rows:
        return
    one = f"({', '.join('?' * len(rows[0]))})"
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        conn.execute(f"{head} {', '.join([one] * len(part))}", [value for row in part for value in row])
