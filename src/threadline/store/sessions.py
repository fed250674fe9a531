"""Reading sessions: the sessions table, paged and filtered, from the session rollups and their indexes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

from threadline.store.reading import Db, TimeArg, fetch, loads, ns, order_sql, reading, strings
from threadline.store.results import ModelUsage, ScoreSummary, SessionPage, SessionSummary

__all__ = [
    "SESSION_PAGE_ORDER_KEYS",
    "find_session_id",
    "list_sessions",
    "list_users",
    "page_sessions",
    "score_summaries",
    "session_summaries",
]

# The session rollup's columns are named as SessionSummary's fields; the details come from their own tables.
_COLUMNS = tuple(f.name for f in fields(SessionSummary) if f.name not in ("model_usage", "scores"))
_SESSION_SELECT = f"SELECT {', '.join('s.' + c for c in _COLUMNS)}{{extra}}\nFROM sessions AS s\n"
_LISTS = ("users", "models", "tags")  # stored as JSON arrays
_COUNTS = ("errors", "interrupted")  # NULL for no trace

_ORDER = {
    "last_trace": "s.last_end_ns",
    "first_trace": "s.first_start_ns",
    "duration_ms": "(s.last_end_ns - s.first_start_ns)",
    "traces": "s.traces",
    "errors": "s.errors",
    "interrupted": "s.interrupted",
    "input_tokens": "s.input_tokens",
    "output_tokens": "s.output_tokens",
    "cache_read_tokens": "s.cache_read_tokens",
    "cache_write_tokens": "s.cache_write_tokens",
    "reasoning_tokens": "s.reasoning_tokens",
    "total_tokens": "s.total_tokens",
    "cost_usd": "s.cost_usd",
    "ttft_median_ms": "s.ttft_median_ms",
    "session_id": "s.session_id",
}
SESSION_PAGE_ORDER_KEYS: tuple[str, ...] = tuple(_ORDER)
"""The fields :func:`page_sessions` and :func:`list_sessions` sort by (prefix ``-`` for descending)."""


def _summary(row: Sequence[Any]) -> SessionSummary:
    """The summary of one ``_SESSION_SELECT`` row, without its details."""
    values = dict(zip(_COLUMNS, row[: len(_COLUMNS)], strict=True))  # a page's row ends with its total
    for name in _LISTS:
        values[name] = strings(values[name])
    for name in _COUNTS:
        values[name] = values[name] or 0
    values["metadata"] = loads(values["metadata"]) or {}
    return SessionSummary(**values)


def _marks(prefix: str, values: Sequence[str], params: dict[str, Any]) -> str:
    names = [f":{prefix}{i}" for i in range(len(values))]
    params.update({n[1:]: v for n, v in zip(names, values, strict=True)})
    return ", ".join(names)


def _details(conn: sqlite3.Connection, sessions: list[SessionSummary]) -> list[SessionSummary]:
    """``sessions`` with their per-model usage and score aggregates (two index lookups per page)."""
    if not sessions:
        return sessions
    params: dict[str, Any] = {}
    marks = _marks("d", [s.session_id for s in sessions], params)
    usage: dict[str, list[ModelUsage]] = {}
    for row in fetch(conn, f"SELECT * FROM session_models WHERE session_id IN ({marks}) ORDER BY model", params):
        usage.setdefault(row[0], []).append(ModelUsage(*row[1:]))
    scores = score_summaries(conn, [s.session_id for s in sessions])
    return [
        replace(s, model_usage=tuple(usage.get(s.session_id, ())), scores=scores.get(s.session_id, ()))
        for s in sessions
    ]


# A session's own scores and its traces' scores (found through the traces rollup), by name.
_SCORE_SUMMARY_SQL = """
SELECT owner, name, count(*), avg(value_num), json_group_array(value_str) FILTER (WHERE value_str IS NOT NULL)
FROM (
    SELECT target_id AS owner, name, value_num, value_str FROM scores
    WHERE target_kind = 'session' AND target_id IN ({marks})
    UNION ALL
    SELECT t.session_id, c.name, c.value_num, c.value_str FROM traces AS t
    JOIN scores AS c ON c.target_kind = 'trace' AND c.target_id = t.trace_id
    WHERE t.session_id IN ({marks})
)
GROUP BY owner, name ORDER BY name
"""


def score_summaries(conn: sqlite3.Connection, session_ids: Sequence[str]) -> dict[str, tuple[ScoreSummary, ...]]:
    """session id -> its own and its traces' scores by name (mean of numbers, counts of categories).

    Only ``session_ids`` that have a score are in the result.
    """
    params: dict[str, Any] = {}
    marks = _marks("s", list(dict.fromkeys(session_ids)), params)
    out: dict[str, list[ScoreSummary]] = {}
    rows = fetch(conn, _SCORE_SUMMARY_SQL.format(marks=marks), params) if params else []
    for target, name, count, mean, categories in rows:
        counted: dict[str, int] = {}
        for category in json.loads(categories) if categories else ():
            counted[category] = counted.get(category, 0) + 1
        out.setdefault(target, []).append(ScoreSummary(name=name, count=count, mean=mean, categories=counted))
    return {k: tuple(v) for k, v in out.items()}


def _where(
    params: dict[str, Any],
    user: str | None,
    since: TimeArg,
    until: TimeArg,
    session_ids: Sequence[str] | None,
    environment: str | None,
    tag: str | None,
) -> str:
    terms = []
    if user is not None:
        params["user"] = user
        terms.append(
            "EXISTS (SELECT 1 FROM session_users AS u WHERE u.user_id = :user AND u.session_id = s.session_id)"
        )
    if since is not None:
        params["since"] = ns(since)
        terms.append("s.active_ns >= :since")
    if until is not None:
        params["until"] = ns(until)
        terms.append("s.first_start_ns <= :until")
    if session_ids is not None:
        terms.append(f"s.session_id IN ({_marks('sid', list(dict.fromkeys(session_ids)), params)})")
    if environment is not None:
        params["environment"] = environment
        terms.append("s.environment = :environment")
    if tag is not None:
        params["tag"] = tag
        terms.append("EXISTS (SELECT 1 FROM json_each(s.tags) WHERE json_each.value = :tag)")
    return ("WHERE " + " AND ".join(terms) + "\n") if terms else ""


def list_sessions(
    db: Db,
    user: str | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    limit: int | None = 50,
    offset: int = 0,
    order_by: str = "-last_trace",
    session_ids: Sequence[str] | None = None,
    *,
    environment: str | None = None,
    tag: str | None = None,
) -> list[SessionSummary]:
    """Sessions with their aggregate columns, most recently active first by default.

    ``user`` keeps sessions in which that user appears; ``since`` / ``until``
    keep sessions active in that window (a datetime, or Unix ns);
    ``environment`` and ``tag`` keep sessions with that environment or tag;
    ``order_by`` is a :class:`SessionSummary` field name (see
    :data:`SESSION_PAGE_ORDER_KEYS`), ``-`` first for descending.
    ``session_ids`` restricts the list to those sessions. Each summary comes
    with its per-model usage and score aggregates.
    """
    if session_ids is not None and not session_ids:
        return []
    order = order_sql(order_by, _ORDER)
    params: dict[str, Any] = {"limit": int(limit) if limit is not None else -1, "offset": int(offset)}
    where = _where(params, user, since, until, session_ids, environment, tag)
    sql = _SESSION_SELECT.format(extra="") + where + f"ORDER BY {order}, s.session_id LIMIT :limit OFFSET :offset"
    with reading(db) as conn:
        return _details(conn, [_summary(r) for r in fetch(conn, sql, params)])


def session_summaries(conn: sqlite3.Connection, session_ids: Sequence[str]) -> list[SessionSummary]:
    """The summaries of ``session_ids`` that exist, with details, in no particular order."""
    return list_sessions(conn, session_ids=session_ids, limit=None, order_by="session_id")


def page_sessions(
    db: Db,
    user: str | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    limit: int = 50,
    offset: int = 0,
    order_by: str = "-last_trace",
    *,
    environment: str | None = None,
    tag: str | None = None,
) -> SessionPage:
    """One page of :func:`list_sessions` and how many sessions match in all.

    Same filters and sort fields; sessions without a value for the sort field
    come last either way, and ties go by session id.
    """
    descending = order_by.startswith("-")
    column = _ORDER.get(order_by.lstrip("-+"))
    if column is None:
        raise ValueError(f"cannot order by {order_by!r}; use one of {sorted(_ORDER)} (prefix '-' for descending)")
    limit = max(int(limit), 1)
    offset = max(int(offset), 0)
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    where = _where(params, user, since, until, None, environment, tag)
    sql = (
        _SESSION_SELECT.format(extra=", count(*) OVER () AS total")
        + where
        + f"ORDER BY ({column}) IS NULL, {column} {'DESC' if descending else 'ASC'}, s.session_id "
        "LIMIT :limit OFFSET :offset"
    )
    with reading(db) as conn:
        rows = fetch(conn, sql, params)
        if rows:
            total = int(rows[0][-1])
        elif offset > 0:  # past the end: still say how many there are
            total = int(fetch(conn, "SELECT count(*) FROM sessions AS s " + where, params)[0][0])
        else:
            total = 0
        sessions = _details(conn, [_summary(r) for r in rows])
    return SessionPage(sessions=sessions, total=total, offset=offset, limit=limit, order_by=order_by)


def list_users(db: Db, limit: int = 1000) -> list[str]:
    """The distinct user ids of the store's sessions, sorted (at most ``limit``)."""
    with reading(db) as conn:
        rows = fetch(conn, "SELECT DISTINCT user_id FROM session_users ORDER BY user_id LIMIT ?", (int(limit),))
    return [str(r[0]) for r in rows]


def find_session_id(db: Db, session_id: str) -> str | None:
    """The stored id of the session the user calls ``session_id``: itself, else through its kept original id."""
    with reading(db) as conn:
        if fetch(conn, "SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)):
            return session_id
        rows = fetch(conn, "SELECT session_id FROM sessions WHERE original_id = ? LIMIT 2", (session_id,))
    return str(rows[0][0]) if len(rows) == 1 else None
