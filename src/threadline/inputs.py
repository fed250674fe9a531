"""What people type into the CLI's options and the web view's query string, checked once for both.

Each parser returns a value the store can use, or raises ``ValueError`` with a
message that names the option and what it accepts: a huge number or a time
out of range is a clear message (CLI) or a ``400`` (web view), never an
``OverflowError`` traceback or a ``500``.
"""

from __future__ import annotations

from datetime import datetime

from threadline.store import queries

__all__ = ["MAX_ROWS", "count", "time"]

MAX_ROWS = 1_000_000_000  # limits and offsets; far past any store, far inside SQLite's 64-bit integers


def count(value: str | int | None, name: str, *, default: int, minimum: int = 0, maximum: int = MAX_ROWS) -> int:
    """A whole number from ``minimum`` to ``maximum``; ``default`` when ``value`` is empty or ``None``.

    ``name`` starts the error message (``""``: no prefix, for argparse, which adds its own).
    """
    if value is None or value == "":
        return default
    prefix = f"{name}: " if name else ""
    try:
        number = int(value)
    except (TypeError, ValueError):  # also a string of more digits than int() reads
        raise ValueError(f"{prefix}expected a whole number, got {_short(value)}") from None
    if not minimum <= number <= maximum:
        raise ValueError(f"{prefix}{_short(number)} is out of range ({minimum:,} to {maximum:,})")
    return number


def time(text: str, name: str) -> datetime:
    """An ISO 8601 or relative time (``-1h``, ``30m``, ``2d``), read by :func:`threadline.store.queries.parse_time`."""
    try:
        return queries.parse_time(text)
    except OverflowError:  # -99999999999d: before year 1, or past what timedelta holds
        raise ValueError(f"{name}: the time {_short(text)} is out of range") from None
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _short(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
