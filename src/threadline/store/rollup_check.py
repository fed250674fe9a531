"""Checking the rollups: do the stored ones equal a full recomputation from the spans?"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from typing import Any

from threadline.store.rollups import rebuild

__all__ = ["differences"]

_ROLLUP_TABLES = {
    "traces": "trace_id",
    "sessions": "session_id",
    "session_users": "user_id, session_id",
    "session_models": "session_id, model",
}


def differences(conn: sqlite3.Connection) -> list[str]:
    """How the stored rollups differ from a full recomputation from the spans (empty when they agree).

    Recomputes inside a savepoint that is rolled back, so the store is left as it was.
    """

    def snapshot() -> dict[str, list[Any]]:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY {k}").fetchall() for t, k in _ROLLUP_TABLES.items()}  # noqa: S608

    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")
    try:
        stored = snapshot()
        conn.execute("SAVEPOINT rollup_check")
        try:
            rebuild(conn)
            recomputed = snapshot()
        finally:
            conn.execute("ROLLBACK TO rollup_check")
            conn.execute("RELEASE rollup_check")
    finally:
        if began:
            conn.execute("ROLLBACK")
    out = []
    for table in _ROLLUP_TABLES:
        mine, theirs = stored[table], recomputed[table]
        if len(mine) != len(theirs) or not all(map(_same_row, mine, theirs)):
            only_mine = [r for r in mine if not any(_same_row(r, t) for t in theirs)]
            only_theirs = [t for t in theirs if not any(_same_row(r, t) for r in mine)]
            out.append(f"{table}: stored only {only_mine[:3]}, recomputed only {only_theirs[:3]}")
    return out


def _same_row(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Equal rows, sums of floats to 1e-9 relative (added in another order, they may differ in the last bits)."""
    if len(a) != len(b):
        return False
    return all(x == y or (_number(x) and _number(y) and _close(x, y)) for x, y in zip(a, b, strict=True))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _close(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
