"""The traces table: every trace's rollup, filtered, sorted and paged (the web view's traces page).

Read from the ``traces`` rollups only, through the start-time, session, outcome
and environment indexes; the count of matches stops at :data:`COUNT_CAP` so
that a page never walks the whole table just to say how many there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threadline.store.reading import Db, TimeArg, fetch, ns, reading
from threadline.store.results import TraceSummary
from threadline.store.traces import TRACE_SELECT, trace_fields

__all__ = ["COUNT_CAP", "OUTCOMES", "TRACE_ORDER_KEYS", "TracePage", "page_traces"]

OUTCOMES: tuple[str, ...] = ("ok", "error", "interrupted", "resumed", "cancelled")
COUNT_CAP = 10_000

_ORDER = {
    "start": "t.start_ns",
    "duration_ms": "(t.end_ns - t.start_ns)",
    "spans": "t.spans",
    "cost_usd": "t.cost_usd",
    "total_tokens": "t.total_tokens",
    "input_tokens": "t.input_tokens",
    "output_tokens": "t.output_tokens",
}
TRACE_ORDER_KEYS: tuple[str, ...] = tuple(_ORDER)


@dataclass(frozen=True)
class TracePage:
    """One page of traces, how many match (at most :data:`COUNT_CAP` counted), and each one's environment."""

    traces: list[TraceSummary]
    total: int
    capped: bool
    """True when more than :data:`COUNT_CAP` traces match (``total`` is then the cap)."""
    offset: int
    limit: int
    environments: dict[str, str | None]
    total_tokens: dict[str, int | None]


def _where(params: dict[str, Any], filters: dict[str, Any]) -> str:
    terms = []
    if filters.get("session_id"):
        terms.append("t.session_id = :session_id")
    if filters.get("outcome"):
        terms.append("t.outcome = :outcome")
    if filters.get("environment"):
        terms.append("t.environment = :environment")
    if filters.get("user"):
        terms.append("EXISTS (SELECT 1 FROM json_each(t.users) WHERE json_each.value = :user)")
    if filters.get("model"):
        terms.append("EXISTS (SELECT 1 FROM json_each(t.models) WHERE json_each.value = :model)")
    if filters.get("since") is not None:
        terms.append("t.start_ns >= :since")
    if filters.get("until") is not None:
        terms.append("t.start_ns <= :until")
    params.update({k: v for k, v in filters.items() if v is not None and v != ""})
    return ("WHERE " + " AND ".join(terms) + "\n") if terms else ""


def page_traces(
    db: Db,
    *,
    session_id: str | None = None,
    user: str | None = None,
    environment: str | None = None,
    outcome: str | None = None,
    model: str | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    limit: int = 50,
    offset: int = 0,
    order_by: str = "-start",
) -> TracePage:
    """One page of traces matching every filter given, newest first by default.

    ``outcome`` is one of :data:`OUTCOMES`; ``user`` / ``model`` keep traces
    in which they appear; ``order_by`` one of :data:`TRACE_ORDER_KEYS`
    (``-`` first for descending; traces without a value come last either way).
    """
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; use one of {', '.join(OUTCOMES)}")
    column = _ORDER.get(order_by.lstrip("-+"))
    if column is None:
        raise ValueError(f"cannot order by {order_by!r}; use one of {sorted(_ORDER)} (prefix '-' for descending)")
    limit, offset = max(int(limit), 1), max(int(offset), 0)
    params: dict[str, Any] = {"limit": limit, "offset": offset, "cap": COUNT_CAP + 1}
    filters = {
        "session_id": session_id,
        "user": user,
        "environment": environment,
        "outcome": outcome,
        "model": model,
        "since": ns(since),
        "until": ns(until),
    }
    where = _where(params, filters)
    direction = "DESC" if order_by.startswith("-") else "ASC"
    select = TRACE_SELECT.replace("FROM traces AS t", ", t.environment, t.total_tokens\nFROM traces AS t")
    # Start times are never NULL: sorted by them, the start-time index (which ends with the trace id) gives the order.
    nulls_last = "" if column == "t.start_ns" else f"({column}) IS NULL, "
    order = f"ORDER BY {nulls_last}{column} {direction}, t.trace_id {direction}"
    sql = select + where + order + " LIMIT :limit OFFSET :offset"
    count_sql = f"SELECT count(*) FROM (SELECT 1 FROM traces AS t {where} LIMIT :cap)"
    with reading(db) as conn:
        rows = fetch(conn, sql, params)
        total = int(fetch(conn, count_sql, params)[0][0])
    traces = [TraceSummary(**trace_fields(r[:-2])) for r in rows]
    return TracePage(
        traces=traces,
        total=min(total, COUNT_CAP),
        capped=total > COUNT_CAP,
        offset=offset,
        limit=limit,
        environments={r[0]: r[-2] for r in rows},
        total_tokens={r[0]: r[-1] for r in rows},
    )


def trace_choices(db: Db, limit: int = 200) -> dict[str, list[str]]:
    """Values the traces page offers in its filters: environments and models (from the session rollups)."""
    with reading(db) as conn:
        environments = [
            r[0]
            for r in fetch(
                conn,
                "SELECT DISTINCT environment FROM sessions WHERE environment IS NOT NULL ORDER BY 1 LIMIT ?",
                (limit,),
            )
        ]
        models = [r[0] for r in fetch(conn, "SELECT DISTINCT model FROM session_models ORDER BY 1 LIMIT ?", (limit,))]
    return {"environments": environments, "models": models}
