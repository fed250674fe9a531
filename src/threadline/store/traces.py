"""Reading traces: the trace rollups (listing, resolving an id prefix) and one trace with its span tree."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from threadline.store.reading import Db, TimeArg, fetch, ns, order_sql, reading, strings
from threadline.store.results import TraceDetail, TraceSummary
from threadline.store.spans import trace_spans

__all__ = ["AmbiguousIdError", "TRACE_SELECT", "get_trace", "list_traces", "resolve_trace_id", "trace_fields"]


class AmbiguousIdError(ValueError):
    """A trace id prefix matches more than one trace."""


TRACE_SELECT = """
SELECT t.trace_id, t.root_span_id, t.root_name, t.session_id, t.start_ns, t.end_ns, t.spans, t.error_spans,
       t.outcome, t.is_resume, t.users, t.models, t.input_tokens, t.output_tokens, t.cache_read_tokens,
       t.cache_write_tokens, t.reasoning_tokens, t.cost_usd
FROM traces AS t
"""

_TRACE_ORDER = {
    "start": "t.start_ns",
    "duration_ms": "(t.end_ns - t.start_ns)",
    "spans": "t.spans",
    "cost_usd": "t.cost_usd",
    "input_tokens": "t.input_tokens",
    "output_tokens": "t.output_tokens",
    "trace_id": "t.trace_id",
}


def trace_fields(row: Sequence[Any]) -> dict[str, Any]:
    """The :class:`TraceSummary` fields of one :data:`TRACE_SELECT` row."""
    (tid, root, name, sid, start, end, spans, errors, outcome, resume, users, models, inp, out, cread, cwrite,
     reasoning, cost) = row  # fmt: skip
    return {
        "trace_id": tid,
        "root_span_id": root,
        "name": name,
        "session_id": sid,
        "start_ns": start,
        "end_ns": end,
        "spans": spans,
        "error_spans": errors or 0,
        "outcome": outcome,
        "is_resume": bool(resume),
        "users": strings(users),
        "models": strings(models),
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_tokens": cread,
        "cache_write_tokens": cwrite,
        "reasoning_tokens": reasoning,
        "cost_usd": cost,
    }


def list_traces(
    db: Db,
    session_id: str | None = None,
    user: str | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    limit: int | None = 50,
    offset: int = 0,
    order_by: str = "-start",
) -> list[TraceSummary]:
    """Traces (with or without a session), newest first by default.

    ``session_id`` keeps that session's traces; ``user`` traces in which the
    user appears; ``since`` / ``until`` traces that started in the window.
    ``order_by``: ``start``, ``duration_ms``, ``spans``, ``cost_usd``,
    ``input_tokens``, ``output_tokens``, ``trace_id``; ``-`` for descending.
    """
    order = order_sql(order_by, _TRACE_ORDER)
    params: dict[str, Any] = {
        "session_id": session_id,
        "user": user,
        "since": ns(since),
        "until": ns(until),
        "limit": int(limit) if limit is not None else -1,
        "offset": int(offset),
    }
    where = "t.session_id = :session_id" if session_id is not None else "1"
    sql = (
        TRACE_SELECT
        + f"""
WHERE {where}
  AND (:user IS NULL OR EXISTS (SELECT 1 FROM json_each(t.users) WHERE json_each.value = :user))
  AND (:since IS NULL OR t.start_ns >= :since)
  AND (:until IS NULL OR t.start_ns <= :until)
ORDER BY {order}, t.trace_id
LIMIT :limit OFFSET :offset
"""
    )
    with reading(db) as conn:
        rows = fetch(conn, sql, params)
    return [TraceSummary(**trace_fields(r)) for r in rows]


def resolve_trace_id(db: Db, trace_id: str) -> str | None:
    """The full id of the trace whose id starts with ``trace_id`` (case-insensitive), or ``None``.

    Raises :class:`AmbiguousIdError` when the prefix matches several traces.
    """
    prefix = trace_id.strip().lower()
    if not prefix or not re.fullmatch(r"[0-9a-f]{1,32}", prefix):
        return None
    upper = prefix + "g"  # 'g' sorts after every hex digit
    with reading(db) as conn:
        rows = fetch(conn, "SELECT trace_id FROM traces WHERE trace_id >= ? AND trace_id < ? LIMIT 6", (prefix, upper))
    if not rows:
        return None
    if len(rows) > 1:
        shown = ", ".join(r[0] for r in rows[:5])
        raise AmbiguousIdError(f"trace id prefix {trace_id!r} matches several traces ({shown}...); give more digits")
    return str(rows[0][0])


def get_trace(db: Db, trace_id: str) -> TraceDetail | None:
    """A trace's aggregate and its spans in tree order; ``None`` when there is no such trace.

    ``trace_id`` may be a unique prefix of the id (as the console exporter
    prints it); an ambiguous prefix raises :class:`AmbiguousIdError`.
    """
    with reading(db) as conn:
        full = trace_id.lower() if len(trace_id) == 32 else resolve_trace_id(conn, trace_id)
        if full is None:
            return None
        summary = fetch(conn, TRACE_SELECT + "WHERE t.trace_id = ?", (full,))
        if not summary:
            return None
        spans = trace_spans(conn, full)
    return TraceDetail(summary=TraceSummary(**trace_fields(summary[0])), spans=spans)
