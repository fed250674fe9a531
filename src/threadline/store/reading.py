"""What every reader of the store shares: a connection in one read snapshot, times, ordering.

Every read function takes ``db``: an open ``sqlite3.Connection`` (from
:func:`threadline.store.open_store`) or a path to the store, which is then
opened, validated and closed; a missing store raises
:class:`~threadline.store.schema.StoreNotFoundError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from threadline.store.schema import open_store, retry_locked

__all__ = ["Db", "TimeArg", "fetch", "loads", "ns", "order_sql", "parse_time", "reading", "strings"]

Db = sqlite3.Connection | str | os.PathLike[str]
TimeArg = datetime | int | None


@contextlib.contextmanager
def reading(db: Db) -> Iterator[sqlite3.Connection]:
    """A connection inside one read transaction (one consistent snapshot)."""
    if isinstance(db, sqlite3.Connection):
        conn, owned = db, False
    else:
        conn, owned = open_store(db, create=False), True
        conn.execute("PRAGMA query_only = ON")
    began = False
    try:
        if not conn.in_transaction:
            retry_locked(lambda: conn.execute("BEGIN"))
            began = True
        yield conn
    finally:
        try:
            if began and conn.in_transaction:
                conn.execute("COMMIT")
        finally:
            if owned:
                conn.close()


_INT64 = (-(2**63), 2**63 - 1)


def ns(value: TimeArg) -> int | None:
    """``value`` as Unix nanoseconds (a naive datetime is local time), clamped to SQLite's 64 bits."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.astimezone()  # naive: local time
        value = int(value.timestamp() * 1_000_000) * 1000
    elif isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a datetime or Unix nanoseconds, got {value!r}")
    return min(max(value, _INT64[0]), _INT64[1])  # SQLite integers are 64-bit; ns overflow after 2262


_RELATIVE = re.compile(r"^\s*-?\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """Parse ``2026-05-01``, ``2026-05-01T14:00``, ``...Z`` or a relative ``-1h`` / ``30m`` / ``2d`` / ``1w``.

    A relative time counts back from ``now``; an ISO time without a zone is
    local time. Raises ``ValueError`` with the accepted forms.
    """
    now = now or datetime.now(tz=timezone.utc)
    match = _RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        return now - timedelta(seconds=amount * _UNIT_SECONDS[unit])
    raw = text.strip()
    if raw.lower() == "now":
        return now
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"cannot read the time {text!r}; use ISO 8601 (2026-05-01, 2026-05-01T14:00, ...Z) "
            "or a relative time such as -1h, 30m, 2d, 1w"
        ) from None
    return value if value.tzinfo is not None else value.astimezone()


def fetch(conn: sqlite3.Connection, sql: str, params: Any = ()) -> list[Any]:
    """All rows of ``sql``, retried while another process holds a lock."""
    return retry_locked(lambda: conn.execute(sql, params).fetchall())


def order_sql(order_by: str, allowed: dict[str, str]) -> str:
    """The ``ORDER BY`` term for a field name (``-`` first for descending); ``ValueError`` for others."""
    descending = order_by.startswith("-")
    key = order_by.lstrip("-+")
    column = allowed.get(key)
    if column is None:
        raise ValueError(f"cannot order by {order_by!r}; use one of {sorted(allowed)} (prefix '-' for descending)")
    return f"{column} {'DESC' if descending else 'ASC'}"


def strings(json_text: str | None) -> tuple[str, ...]:
    """A stored JSON array of names as a sorted tuple."""
    if not json_text:
        return ()
    return tuple(sorted(str(v) for v in json.loads(json_text) if v is not None))


def loads(text: Any) -> Any:
    """``text`` decoded from JSON when it is JSON, else as it is."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
