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

__all__ = ["IDS_PER_STATEMENT", "PARAMETERS_PER_STATEMENT", "chunks", "insert_rows", "parts"]

T = TypeVar("T")

PARAMETERS_PER_STATEMENT = 8192
"""Bound parameters of a multi-row statement at most (SQLite allows 32,766 since 3.32): ~300 span rows."""

IDS_PER_STATEMENT = 500
"""Values in one ``IN (...)`` list at most."""


def parts(rows: Sequence[T], *, width: int | None = None) -> Iterator[Sequence[T]]:
    """``rows`` in slices of at most :data:`PARAMETERS_PER_STATEMENT` parameters.

    ``width``: parameters per row (default: the first row's length).
    """
    if not rows:
        return
    width = len(rows[0]) if width is None else width  # type: ignore[arg-type]
    size = max(1, PARAMETERS_PER_STATEMENT // max(1, width))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


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
