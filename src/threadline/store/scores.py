"""Scores and annotations on a trace or a session, written to the store.

A score is a number (a bool counts as 0 / 1) or a category string, with an
optional comment, who gave it (``author``) and how (``source``: ``code``,
``cli``, ``ui`` ...). Sessions list the mean of each numeric score name and the
counts of each category (:class:`~threadline.store.results.ScoreSummary`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from threadline.store.lifecycle import connection
from threadline.store.reading import Db
from threadline.store.schema import retry_locked

__all__ = ["Score", "add_score"]

TARGET_KINDS = ("trace", "session")


@dataclass(frozen=True)
class Score:
    """One stored score."""

    id: int
    target_kind: str
    target_id: str
    name: str
    value: float | None
    category: str | None


def add_score(
    db: Db,
    name: str,
    value: float | bool | str,
    *,
    trace_id: str | None = None,
    session_id: str | None = None,
    comment: str | None = None,
    source: str = "code",
    author: str | None = None,
) -> Score:
    """Store a score on a trace (``trace_id``) or a session (``session_id``); exactly one of them.

    Raises ``ValueError`` for a missing or doubled target, an empty name, or a
    value that is neither a finite number, a bool nor a string.
    """
    if (trace_id is None) == (session_id is None):
        raise ValueError("score a trace or a session: pass exactly one of trace_id and session_id")
    if not name or not isinstance(name, str):
        raise ValueError("a score needs a name")
    kind, target = ("trace", trace_id.lower()) if trace_id is not None else ("session", session_id)
    number: float | None = None
    category: str | None = None
    if isinstance(value, str):
        category = value
    elif isinstance(value, (bool, int, float)) and math.isfinite(float(value)):
        number = float(value)
    else:
        raise ValueError(f"a score is a finite number, a bool or a category string, not {value!r}")

    def write() -> int:
        with connection(db) as conn:
            cursor = conn.execute(
                "INSERT INTO scores (target_kind, target_id, name, value, category, comment, source, author, "
                "created_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, target, name, number, category, comment, source, author, time.time_ns()),
            )
            return int(cursor.lastrowid)  # type: ignore[arg-type]

    score_id = retry_locked(write)
    return Score(score_id, kind, str(target), name, number, category)
