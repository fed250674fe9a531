"""Typed reads of the SQLite store: sessions, a session's turns, a trace's span tree.

Used by the ``threadline`` CLI and meant for any other reader (a web UI).
Every function takes ``db``: an open ``sqlite3.Connection`` (from
:func:`threadline.store.open_store`) or a path to the store, which is then
opened, validated and closed; a missing store raises
:class:`~threadline.store.schema.StoreNotFoundError`.

Definitions (applied in SQL):

* a trace's *root* is its span with no parent in the store (the earliest, if
  several); its *session* is the session id stamped on the root, else on any
  span of the trace;
* a trace is *interrupted* when its root's outcome is ``interrupted`` (or,
  for a root threadline did not build, when any span was interrupted); it is
  an *error* when a span has error status and it is not interrupted: an
  interrupt is never an error;
* tokens and cost are sums over the spans that carry ``gen_ai.usage.*`` (the
  emitter puts each call's usage on exactly one span); cost is ``None`` when
  no span had a known price, never a made-up 0;
* models and time to first token come from each call's own span: a
  framework wrapper whose usage is counted in a nested SDK span (the
  "counted once" rule) adds neither; time to first token is the median over
  the streamed calls that report it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from threadline import semconv as sc
from threadline.store.schema import open_store, retry_locked

__all__ = [
    "AmbiguousIdError",
    "Db",
    "InterruptInfo",
    "SessionDetail",
    "SessionSummary",
    "SpanRow",
    "TraceDetail",
    "TraceSummary",
    "Turn",
    "get_session",
    "get_trace",
    "list_sessions",
    "list_traces",
    "parse_time",
    "resolve_trace_id",
]

Db = sqlite3.Connection | str | os.PathLike[str]
TimeArg = datetime | int | None


class AmbiguousIdError(ValueError):
    """A trace id prefix matches more than one trace."""


# --- results -----------------------------------------------------------------------


def _dt(ns: int | None) -> datetime | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


def _iso(ns: int | None) -> str | None:
    value = _dt(ns)
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class SessionSummary:
    """One row of the sessions table: a session's aggregate over its traces."""

    session_id: str
    first_start_ns: int
    """Start of the session's first trace (Unix ns)."""
    last_end_ns: int | None
    """End of the session's last trace (Unix ns)."""
    traces: int
    errors: int
    """Traces with an error span; interrupted traces never count."""
    interrupted: int
    """Traces whose root ended interrupted (waiting for a human)."""
    users: tuple[str, ...]
    models: tuple[str, ...]
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float | None
    ttft_median_ms: float | None
    """Median time to first token over the session's streamed model calls."""

    @property
    def first_trace(self) -> datetime:
        """Start of the first trace, UTC."""
        value = _dt(self.first_start_ns)
        assert value is not None
        return value

    @property
    def last_trace(self) -> datetime | None:
        """End of the last trace, UTC."""
        return _dt(self.last_end_ns)

    @property
    def duration_ms(self) -> float | None:
        """From the first trace's start to the last trace's end."""
        if self.last_end_ns is None:
            return None
        return (self.last_end_ns - self.first_start_ns) / 1e6

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 UTC and as Unix ns)."""
        out = asdict(self)
        out["users"] = list(self.users)
        out["models"] = list(self.models)
        out["first_trace"] = _iso(self.first_start_ns)
        out["last_trace"] = _iso(self.last_end_ns)
        out["duration_ms"] = self.duration_ms
        return out


@dataclass(frozen=True)
class TraceSummary:
    """One trace (one request or conversational turn), aggregated over its spans."""

    trace_id: str
    root_span_id: str | None
    name: str | None
    """The root span's name."""
    session_id: str | None
    start_ns: int
    end_ns: int | None
    spans: int
    error_spans: int
    outcome: str
    """``interrupted``, ``error``, ``cancelled``, ``resumed`` (a resume that went on) or ``ok``."""
    is_resume: bool
    users: tuple[str, ...]
    models: tuple[str, ...]
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float | None

    @property
    def duration_ms(self) -> float | None:
        """From the first span's start to the last span's end."""
        return None if self.end_ns is None else (self.end_ns - self.start_ns) / 1e6

    @property
    def start(self) -> datetime:
        """The trace's start, UTC."""
        value = _dt(self.start_ns)
        assert value is not None
        return value

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["users"] = list(self.users)
        out["models"] = list(self.models)
        out["start"] = _iso(self.start_ns)
        out["end"] = _iso(self.end_ns)
        out["duration_ms"] = self.duration_ms
        return out


@dataclass(frozen=True)
class InterruptInfo:
    """One human-in-the-loop interrupt raised in a trace: its id and payload."""

    id: str | None
    value: Any
    """The payload as recorded (decoded from JSON when it was JSON)."""

    @property
    def text(self) -> str:
        """The payload for display: strings as they are, anything else as compact JSON."""
        return _display(self.value)


@dataclass(frozen=True)
class Turn(TraceSummary):
    """A trace seen as one turn of a session's conversation."""

    index: int = 0
    """1-based position in the session."""
    input: str | None = None
    """The root span's ``input.value``."""
    output: str | None = None
    """The root span's ``output.value``."""
    error: str | None = None
    """``span name: status message`` of the first error span."""
    interrupts: tuple[InterruptInfo, ...] = ()
    resume_value: str | None = None
    """What the human answered, for a trace that resumes interrupts."""
    resume_interrupt_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = TraceSummary.to_dict(self)
        out["interrupts"] = [{"id": i.id, "value": i.value} for i in self.interrupts]
        out["resume_interrupt_ids"] = list(self.resume_interrupt_ids)
        return out


@dataclass(frozen=True)
class SessionDetail:
    """A session's aggregate and its turns in time order (the conversation replay)."""

    summary: SessionSummary
    turns: list[Turn]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"session": self.summary.to_dict(), "turns": [t.to_dict() for t in self.turns]}


@dataclass(frozen=True)
class SpanRow:
    """One stored span, placed in its trace's tree (``depth`` 0 for a root)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str | None
    """``threadline.span.kind`` (model, tool, node, graph ...), ``None`` for others' spans."""
    start_ns: int
    end_ns: int | None
    status_code: str
    status_message: str | None
    outcome: str | None
    session_id: str | None
    user_id: str | None
    model: str | None
    provider: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float | None
    ttft_ms: float | None
    is_resume: bool
    interrupt_ids: tuple[str, ...]
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    depth: int = 0

    @property
    def duration_ms(self) -> float | None:
        """The span's duration."""
        return None if self.end_ns is None else (self.end_ns - self.start_ns) / 1e6

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["interrupt_ids"] = list(self.interrupt_ids)
        out["start"] = _iso(self.start_ns)
        out["end"] = _iso(self.end_ns)
        out["duration_ms"] = self.duration_ms
        return out


@dataclass(frozen=True)
class TraceDetail:
    """A trace's aggregate and its spans in tree order (depth first, children by start)."""

    summary: TraceSummary
    spans: list[SpanRow]

    def children(self, span: SpanRow) -> list[SpanRow]:
        """The direct children of ``span``, by start time."""
        return [s for s in self.spans if s.parent_span_id == span.span_id and s.depth == span.depth + 1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"trace": self.summary.to_dict(), "spans": [s.to_dict() for s in self.spans]}


# --- connection handling -----------------------------------------------------------------


@contextlib.contextmanager
def _reading(db: Db) -> Iterator[sqlite3.Connection]:
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


def _ns(value: TimeArg) -> int | None:
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


# --- SQL ---------------------------------------------------------------------------------------

# Older SQLite (< 3.35) has no MATERIALIZED hint; the queries stay correct there, only slower.
_MATERIALIZED = "MATERIALIZED" if sqlite3.sqlite_version_info >= (3, 35, 0) else ""

# One pass over the spans: `s` marks roots (no parent in the store), `t` aggregates per trace
# (computed once) and keeps the earliest root as a JSON array [start, span id, name, outcome]
# whose text sorts by start time; `tr` / `tro` derive root fields and the trace's outcome.
_TRACES_SQL = (
    """
s AS (
    SELECT sp.trace_id, sp.span_id, sp.name, sp.start_ns, sp.end_ns, sp.status_code, sp.outcome, sp.session_id,
           sp.user_id, sp.model, sp.input_tokens, sp.output_tokens, sp.cache_read_tokens, sp.cache_write_tokens,
           sp.reasoning_tokens, sp.cost_usd, sp.usage_counted_in, sp.ttft_ms, sp.is_resume,
           (sp.parent_span_id IS NULL OR NOT EXISTS (
                SELECT 1 FROM spans AS p WHERE p.trace_id = sp.trace_id AND p.span_id = sp.parent_span_id
           )) AS is_root
    FROM spans AS sp {span_filter}
),
t AS """
    + _MATERIALIZED
    + """ (
    SELECT trace_id,
           coalesce(max(CASE WHEN is_root THEN session_id END), max(session_id)) AS session_id,
           min(start_ns) AS start_ns,
           max(end_ns) AS end_ns,
           count(*) AS span_count,
           sum(status_code = 'ERROR') AS error_spans,
           max(coalesce(outcome = 'interrupted', 0)) AS any_interrupted,
           max(is_resume) AS is_resume,
           sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens,
           sum(cache_read_tokens) AS cache_read_tokens,
           sum(cache_write_tokens) AS cache_write_tokens,
           sum(reasoning_tokens) AS reasoning_tokens,
           sum(cost_usd) AS cost_usd,
           json_group_array(DISTINCT user_id) FILTER (WHERE user_id IS NOT NULL) AS users,
           json_group_array(DISTINCT model) FILTER (WHERE model IS NOT NULL AND usage_counted_in IS NULL) AS models,
           json_group_array(ttft_ms) FILTER (WHERE ttft_ms IS NOT NULL AND usage_counted_in IS NULL) AS ttfts,
           min(CASE WHEN is_root THEN json_array(printf('%020d', start_ns), span_id, name, outcome) END)
               AS root_key
    FROM s GROUP BY trace_id
),
tr AS (
    SELECT t.*,
           json_extract(root_key, '$[1]') AS root_span_id,
           json_extract(root_key, '$[2]') AS root_name,
           json_extract(root_key, '$[3]') AS root_outcome,
           CASE WHEN json_extract(root_key, '$[3]') = 'interrupted'
                  OR (json_extract(root_key, '$[3]') IS NULL AND t.any_interrupted) THEN 1 ELSE 0 END
               AS interrupted
    FROM t
),
tro AS (
    SELECT tr.*,
           CASE WHEN interrupted THEN 'interrupted'
                WHEN error_spans > 0 THEN 'error'
                WHEN root_outcome = 'cancelled' THEN 'cancelled'
                WHEN is_resume THEN 'resumed'
                ELSE 'ok' END AS outcome
    FROM tr
)
"""
)

_SESSIONS_SQL = """
st AS (
    SELECT session_id,
           min(start_ns) AS first_start_ns,
           max(end_ns) AS last_end_ns,
           count(*) AS traces,
           sum(error_spans > 0 AND NOT interrupted) AS errors,
           sum(interrupted) AS interrupted,
           sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens,
           sum(cache_read_tokens) AS cache_read_tokens,
           sum(cache_write_tokens) AS cache_write_tokens,
           sum(reasoning_tokens) AS reasoning_tokens,
           sum(cost_usd) AS cost_usd
    FROM tr WHERE session_id IS NOT NULL GROUP BY session_id
),
su AS (
    SELECT tr.session_id AS session_id, json_group_array(DISTINCT j.value) AS users
    FROM tr, json_each(tr.users) AS j WHERE tr.session_id IS NOT NULL GROUP BY tr.session_id
),
sm AS (
    SELECT tr.session_id AS session_id, json_group_array(DISTINCT j.value) AS models
    FROM tr, json_each(tr.models) AS j WHERE tr.session_id IS NOT NULL GROUP BY tr.session_id
),
tt AS (
    SELECT tr.session_id AS session_id, j.value AS ttft_ms,
           row_number() OVER (PARTITION BY tr.session_id ORDER BY j.value) AS i,
           count(*) OVER (PARTITION BY tr.session_id) AS n
    FROM tr, json_each(tr.ttfts) AS j WHERE tr.session_id IS NOT NULL
),
tm AS (
    SELECT session_id, avg(ttft_ms) AS ttft_median_ms
    FROM tt WHERE i IN ((n + 1) / 2, (n + 2) / 2) GROUP BY session_id
)
SELECT st.session_id, st.first_start_ns, st.last_end_ns, st.traces, st.errors, st.interrupted,
       su.users, sm.models, st.input_tokens, st.output_tokens, st.cache_read_tokens, st.cache_write_tokens,
       st.reasoning_tokens, st.cost_usd, tm.ttft_median_ms
FROM st LEFT JOIN su USING (session_id) LEFT JOIN sm USING (session_id) LEFT JOIN tm USING (session_id)
WHERE (:user IS NULL OR EXISTS (SELECT 1 FROM json_each(su.users) WHERE json_each.value = :user))
  AND (:since IS NULL OR coalesce(st.last_end_ns, st.first_start_ns) >= :since)
  AND (:until IS NULL OR st.first_start_ns <= :until)
  {session_filter}
ORDER BY {order}, st.session_id
LIMIT :limit OFFSET :offset
"""

_TRACE_COLUMNS = """
tro.trace_id, tro.root_span_id, tro.root_name, tro.session_id, tro.start_ns, tro.end_ns, tro.span_count,
tro.error_spans, tro.outcome, tro.is_resume, tro.users, tro.models, tro.input_tokens, tro.output_tokens,
tro.cache_read_tokens, tro.cache_write_tokens, tro.reasoning_tokens, tro.cost_usd
"""

_SESSION_ORDER = {
    "last_trace": "st.last_end_ns",
    "first_trace": "st.first_start_ns",
    "duration_ms": "(st.last_end_ns - st.first_start_ns)",
    "traces": "st.traces",
    "errors": "st.errors",
    "interrupted": "st.interrupted",
    "input_tokens": "st.input_tokens",
    "output_tokens": "st.output_tokens",
    "cost_usd": "st.cost_usd",
    "ttft_median_ms": "tm.ttft_median_ms",
    "session_id": "st.session_id",
}
_TRACE_ORDER = {
    "start": "tro.start_ns",
    "duration_ms": "(tro.end_ns - tro.start_ns)",
    "spans": "tro.span_count",
    "cost_usd": "tro.cost_usd",
    "input_tokens": "tro.input_tokens",
    "output_tokens": "tro.output_tokens",
    "trace_id": "tro.trace_id",
}


def _order(order_by: str, allowed: dict[str, str]) -> str:
    descending = order_by.startswith("-")
    key = order_by.lstrip("-+")
    column = allowed.get(key)
    if column is None:
        raise ValueError(f"cannot order by {order_by!r}; use one of {sorted(allowed)} (prefix '-' for descending)")
    return f"{column} {'DESC' if descending else 'ASC'}"


def _strings(json_text: str | None) -> tuple[str, ...]:
    if not json_text:
        return ()
    return tuple(sorted(str(v) for v in json.loads(json_text) if v is not None))


def _session(row: sqlite3.Row | tuple[Any, ...]) -> SessionSummary:
    (sid, first, last, traces, errors, interrupted, users, models, inp, out, cread, cwrite, reasoning, cost, ttft) = row
    return SessionSummary(
        session_id=sid,
        first_start_ns=first,
        last_end_ns=last,
        traces=traces,
        errors=errors or 0,
        interrupted=interrupted or 0,
        users=_strings(users),
        models=_strings(models),
        input_tokens=inp,
        output_tokens=out,
        cache_read_tokens=cread,
        cache_write_tokens=cwrite,
        reasoning_tokens=reasoning,
        cost_usd=cost,
        ttft_median_ms=ttft,
    )


def _trace_fields(row: Sequence[Any]) -> dict[str, Any]:
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
        "users": _strings(users),
        "models": _strings(models),
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_tokens": cread,
        "cache_write_tokens": cwrite,
        "reasoning_tokens": reasoning,
        "cost_usd": cost,
    }


def _in_session_filter() -> str:
    return "WHERE sp.trace_id IN (SELECT trace_id FROM spans WHERE session_id = :session_id)"


# --- public reads ---------------------------------------------------------------------------


def list_sessions(
    db: Db,
    user: str | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    limit: int = 50,
    offset: int = 0,
    order_by: str = "-last_trace",
    session_ids: Sequence[str] | None = None,
) -> list[SessionSummary]:
    """Sessions with their aggregate columns, most recently active first by default.

    ``user`` keeps sessions in which that user appears; ``since`` / ``until``
    keep sessions active in that window (a datetime, or Unix ns);
    ``order_by`` is a :class:`SessionSummary` field name (``last_trace``,
    ``first_trace``, ``duration_ms``, ``traces``, ``errors``, ``interrupted``,
    ``input_tokens``, ``output_tokens``, ``cost_usd``, ``ttft_median_ms``,
    ``session_id``), ``-`` first for descending. ``session_ids`` restricts
    the list to those sessions.
    """
    order = _order(order_by, _SESSION_ORDER)
    params: dict[str, Any] = {
        "user": user,
        "since": _ns(since),
        "until": _ns(until),
        "limit": int(limit) if limit is not None else -1,
        "offset": int(offset),
    }
    span_filter = ""
    session_filter = ""
    if session_ids is not None:
        ids = list(dict.fromkeys(session_ids))
        if not ids:
            return []
        names = [f":sid{i}" for i in range(len(ids))]
        params.update({n[1:]: v for n, v in zip(names, ids, strict=True)})
        span_filter = f"WHERE sp.trace_id IN (SELECT trace_id FROM spans WHERE session_id IN ({', '.join(names)}))"
        session_filter = f"AND st.session_id IN ({', '.join(names)})"
    sql = (
        "WITH "
        + _TRACES_SQL.format(span_filter=span_filter or "NOT INDEXED")
        + ","
        + _SESSIONS_SQL.format(order=order, session_filter=session_filter)
    )
    with _reading(db) as conn:
        rows = retry_locked(lambda: conn.execute(sql, params).fetchall())
    return [_session(r) for r in rows]


def list_traces(
    db: Db,
    session_id: str | None = None,
    user: str | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    limit: int = 50,
    offset: int = 0,
    order_by: str = "-start",
) -> list[TraceSummary]:
    """Traces (with or without a session), newest first by default.

    ``session_id`` keeps that session's traces; ``user`` traces in which the
    user appears; ``since`` / ``until`` traces that started in the window.
    ``order_by``: ``start``, ``duration_ms``, ``spans``, ``cost_usd``,
    ``input_tokens``, ``output_tokens``, ``trace_id``; ``-`` for descending.
    """
    order = _order(order_by, _TRACE_ORDER)
    params: dict[str, Any] = {
        "session_id": session_id,
        "user": user,
        "since": _ns(since),
        "until": _ns(until),
        "limit": int(limit) if limit is not None else -1,
        "offset": int(offset),
    }
    span_filter = _in_session_filter() if session_id is not None else ""
    sql = (
        "WITH "
        + _TRACES_SQL.format(span_filter=span_filter or "NOT INDEXED")
        + f"""
SELECT {_TRACE_COLUMNS} FROM tro
WHERE (:session_id IS NULL OR tro.session_id = :session_id)
  AND (:user IS NULL OR EXISTS (SELECT 1 FROM json_each(tro.users) WHERE json_each.value = :user))
  AND (:since IS NULL OR tro.start_ns >= :since)
  AND (:until IS NULL OR tro.start_ns <= :until)
ORDER BY {order}, tro.trace_id
LIMIT :limit OFFSET :offset
"""
    )
    with _reading(db) as conn:
        rows = retry_locked(lambda: conn.execute(sql, params).fetchall())
    return [TraceSummary(**_trace_fields(r)) for r in rows]


def _path(attribute: str) -> str:
    return '$."' + attribute + '"'


_TURN_SPANS_SQL = """
SELECT rowid, trace_id, span_id, name, kind, status_code, status_message, interrupt_ids, is_resume
FROM spans
WHERE trace_id IN (SELECT trace_id FROM spans WHERE session_id = :session_id)
ORDER BY start_ns, span_id
"""

# The captured values a turn shows, read only from the few spans that carry them (one JSON parse each).
_TURN_VALUES = (sc.OI_INPUT_VALUE, sc.OI_OUTPUT_VALUE, sc.INTERRUPT_VALUES, sc.RESUME_VALUE, sc.RESUME_INTERRUPT_IDS)
_TURN_VALUES_SQL = (
    "SELECT rowid, json_extract(attributes, " + ", ".join(f"'{_path(a)}'" for a in _TURN_VALUES) + ") "
    "FROM spans WHERE rowid IN ({marks})"
)


@dataclass(frozen=True)
class _TurnSpan:
    rowid: int
    trace_id: str
    span_id: str
    name: str
    kind: str | None
    status_code: str
    status_message: str | None
    interrupt_ids: str | None
    is_resume: int


@dataclass(frozen=True)
class _TurnPlan:
    """Which spans of a trace carry its input/output, its resume and its interrupts."""

    fields: dict[str, Any]
    spans: list[_TurnSpan]
    carrier: _TurnSpan | None
    resumer: _TurnSpan | None

    @property
    def rowids(self) -> set[int]:
        ids = {s.rowid for s in self.spans if s.interrupt_ids is not None}
        ids.update(s.rowid for s in (self.carrier, self.resumer) if s is not None)
        return ids


def _plan(fields: dict[str, Any], spans: list[_TurnSpan]) -> _TurnPlan:
    root = next((s for s in spans if s.span_id == fields["root_span_id"]), None)
    # The turn's input and output are its root's. A root threadline did not build
    # (the user's own request span) has none: take the outermost threadline span's.
    carrier = root
    if root is None or root.kind is None:
        carrier = next((s for s in spans if s.kind is not None), root)
    resumer = root if root is not None and root.is_resume else next((s for s in spans if s.is_resume), None)
    return _TurnPlan(fields, spans, carrier, resumer)


def _values(conn: sqlite3.Connection, rowids: set[int]) -> dict[int, list[Any]]:
    """rowid -> [input, output, interrupt values, resume value, resume ids] (texts, or None)."""
    out: dict[int, list[Any]] = {}
    ordered = sorted(rowids)
    for i in range(0, len(ordered), 500):
        chunk = ordered[i : i + 500]
        sql = _TURN_VALUES_SQL.format(marks=", ".join("?" for _ in chunk))
        for rowid, values in retry_locked(lambda sql=sql, chunk=chunk: conn.execute(sql, chunk).fetchall()):
            out[rowid] = json.loads(values) if values else [None] * len(_TURN_VALUES)
    return out


def get_session(db: Db, session_id: str) -> SessionDetail | None:
    """A session's aggregate and its turns in time order; ``None`` when the store has no such session.

    Each turn is one trace with the root's input and output, its outcome,
    tokens, cost and duration, the interrupts it raised (ids and payloads)
    and, for a resume, the value it resumed with.
    """
    with _reading(db) as conn:
        summaries_sql = (
            "WITH "
            + _TRACES_SQL.format(span_filter=_in_session_filter())
            + ","
            + _SESSIONS_SQL.format(order="st.first_start_ns", session_filter="AND st.session_id = :session_id")
        )
        params = {"session_id": session_id, "user": None, "since": None, "until": None, "limit": 1, "offset": 0}
        rows = retry_locked(lambda: conn.execute(summaries_sql, params).fetchall())
        if not rows:
            return None
        summary = _session(rows[0])
        traces_sql = (
            "WITH "
            + _TRACES_SQL.format(span_filter=_in_session_filter())
            + f"SELECT {_TRACE_COLUMNS} FROM tro WHERE tro.session_id = :session_id "
            "ORDER BY tro.start_ns, tro.trace_id"
        )
        trace_rows = retry_locked(lambda: conn.execute(traces_sql, {"session_id": session_id}).fetchall())
        span_rows = retry_locked(lambda: conn.execute(_TURN_SPANS_SQL, {"session_id": session_id}).fetchall())
        by_trace: dict[str, list[_TurnSpan]] = {}
        for row in span_rows:
            by_trace.setdefault(row[1], []).append(_TurnSpan(*row))
        plans = [_plan(_trace_fields(row), by_trace.get(row[0], [])) for row in trace_rows]
        values = _values(conn, set().union(*(p.rowids for p in plans)) if plans else set())
    turns = [_turn(index, plan, values) for index, plan in enumerate(plans, start=1)]
    return SessionDetail(summary=summary, turns=turns)


def _loads(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _display(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def _interrupts(spans: list[_TurnSpan], values: dict[int, list[Any]]) -> tuple[InterruptInfo, ...]:
    """The interrupts raised in a trace, by id (a pause may be recorded on a node and on its graph)."""
    found: list[InterruptInfo] = []
    seen: set[str] = set()
    for span in spans:
        if span.interrupt_ids is None:
            continue
        raw_ids = _loads(span.interrupt_ids)
        ids = [str(i) for i in raw_ids] if isinstance(raw_ids, list) else [str(raw_ids)]
        text = values.get(span.rowid, [None] * len(_TURN_VALUES))[2]
        payloads = _loads(text) if text is not None else None
        if isinstance(payloads, list) and len(payloads) == len(ids):
            pairs: list[tuple[str | None, Any]] = list(zip(ids, payloads, strict=True))
        elif isinstance(payloads, list) and not ids:
            pairs = [(None, v) for v in payloads]
        else:
            # Not one value per id (cut by the size cap, redacted, or ids missing): keep it whole.
            pairs = [(",".join(ids) or None, payloads)]
        for interrupt_id, value in pairs:
            key = interrupt_id if interrupt_id is not None else _display(value)
            if key not in seen:
                seen.add(key)
                found.append(InterruptInfo(id=interrupt_id, value=value))
    return tuple(found)


def _turn(index: int, plan: _TurnPlan, values: dict[int, list[Any]]) -> Turn:
    empty = [None] * len(_TURN_VALUES)
    carried = values.get(plan.carrier.rowid, empty) if plan.carrier is not None else empty

    failed = next((s for s in plan.spans if s.status_code == "ERROR"), None)
    error = None
    if failed is not None:
        error = f"{failed.name}: {failed.status_message}" if failed.status_message else failed.name

    resume_value = None
    resume_ids: tuple[str, ...] = ()
    if plan.resumer is not None:
        resumed = values.get(plan.resumer.rowid, empty)
        resume_value = resumed[3]
        ids = resumed[4] if resumed[4] is not None else []
        resume_ids = tuple(str(i) for i in ids) if isinstance(ids, list) else (str(ids),)

    return Turn(
        **plan.fields,
        index=index,
        input=carried[0],
        output=carried[1],
        error=error,
        interrupts=_interrupts(plan.spans, values),
        resume_value=resume_value,
        resume_interrupt_ids=resume_ids,
    )


def resolve_trace_id(db: Db, trace_id: str) -> str | None:
    """The full id of the trace whose id starts with ``trace_id`` (case-insensitive), or ``None``.

    Raises :class:`AmbiguousIdError` when the prefix matches several traces.
    """
    prefix = trace_id.strip().lower()
    if not prefix or not re.fullmatch(r"[0-9a-f]{1,32}", prefix):
        return None
    upper = prefix + "g"  # 'g' sorts after every hex digit
    with _reading(db) as conn:
        rows = retry_locked(
            lambda: conn.execute(
                "SELECT DISTINCT trace_id FROM spans WHERE trace_id >= ? AND trace_id < ? LIMIT 6", (prefix, upper)
            ).fetchall()
        )
    if not rows:
        return None
    if len(rows) > 1:
        shown = ", ".join(r[0] for r in rows[:5])
        raise AmbiguousIdError(f"trace id prefix {trace_id!r} matches several traces ({shown}...); give more digits")
    return str(rows[0][0])


_SPAN_SELECT = """
SELECT trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, status_message, outcome,
       session_id, user_id, model, provider, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
       reasoning_tokens, cost_usd, ttft_ms, is_resume, interrupt_ids, attributes, events, links
FROM spans WHERE trace_id = ? ORDER BY start_ns, span_id
"""


def get_trace(db: Db, trace_id: str) -> TraceDetail | None:
    """A trace's aggregate and its spans in tree order; ``None`` when there is no such trace.

    ``trace_id`` may be a unique prefix of the id (as the console exporter
    prints it); an ambiguous prefix raises :class:`AmbiguousIdError`.
    """
    with _reading(db) as conn:
        full = trace_id.lower() if len(trace_id) == 32 else resolve_trace_id(conn, trace_id)
        if full is None:
            return None
        rows = retry_locked(lambda: conn.execute(_SPAN_SELECT, (full,)).fetchall())
        if not rows:
            return None
        summary_sql = (
            "WITH "
            + _TRACES_SQL.format(span_filter="WHERE sp.trace_id = :trace_id")
            + f"SELECT {_TRACE_COLUMNS} FROM tro"
        )
        summary_row = retry_locked(lambda: conn.execute(summary_sql, {"trace_id": full}).fetchone())
    spans = [_span(r) for r in rows]
    return TraceDetail(summary=TraceSummary(**_trace_fields(summary_row)), spans=_tree_order(spans))


def _span(row: Sequence[Any]) -> SpanRow:
    ids = _loads(row[22]) if row[22] is not None else []
    return SpanRow(
        trace_id=row[0],
        span_id=row[1],
        parent_span_id=row[2],
        name=row[3],
        kind=row[4],
        start_ns=row[5],
        end_ns=row[6],
        status_code=row[7],
        status_message=row[8],
        outcome=row[9],
        session_id=row[10],
        user_id=row[11],
        model=row[12],
        provider=row[13],
        input_tokens=row[14],
        output_tokens=row[15],
        cache_read_tokens=row[16],
        cache_write_tokens=row[17],
        reasoning_tokens=row[18],
        cost_usd=row[19],
        ttft_ms=row[20],
        is_resume=bool(row[21]),
        interrupt_ids=tuple(str(i) for i in ids) if isinstance(ids, list) else (str(ids),),
        attributes=_loads(row[23]) or {},
        events=_loads(row[24]) or [],
        links=_loads(row[25]) or [],
    )


def _tree_order(spans: list[SpanRow]) -> list[SpanRow]:
    """Depth-first, children by start time; spans whose parent is not stored are roots."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRow]] = {}
    for span in spans:  # already sorted by start
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    out: list[SpanRow] = []
    stack = [(s, 0) for s in reversed(children.get(None, []))]
    while stack:
        span, depth = stack.pop()
        out.append(_with_depth(span, depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(span.span_id, [])))
    return out


def _with_depth(span: SpanRow, depth: int) -> SpanRow:
    return span if span.depth == depth else replace(span, depth=depth)


# --- paging for large stores (the web view) ------------------------------------------------


@dataclass(frozen=True)
class SessionPage:
    """One page of the sessions table, and how many sessions match the filters in all."""

    sessions: list[SessionSummary]
    total: int
    offset: int
    limit: int
    order_by: str


# Sort keys of :func:`page_sessions`: the :class:`SessionSummary` fields, computed by the key query.
_PAGE_ORDER = {
    "last_trace": "k.last_end_ns",
    "first_trace": "k.first_start_ns",
    "duration_ms": "(k.last_end_ns - k.first_start_ns)",
    "traces": "k.traces",
    "errors": "k.errors",
    "interrupted": "k.interrupted",
    "input_tokens": "k.input_tokens",
    "output_tokens": "k.output_tokens",
    "cache_read_tokens": "k.cache_read_tokens",
    "cache_write_tokens": "k.cache_write_tokens",
    "reasoning_tokens": "k.reasoning_tokens",
    "cost_usd": "k.cost_usd",
    "ttft_median_ms": "tm.ttft_median_ms",
    "session_id": "k.session_id",
}
SESSION_PAGE_ORDER_KEYS: tuple[str, ...] = tuple(_PAGE_ORDER)
"""The fields :func:`page_sessions` can sort by (prefix ``-`` for descending)."""

# One pass over the spans, grouped by trace then by session: only the columns a page is
# sorted and filtered by. The root is approximated by "no parent" here (no per-span lookup);
# the rows shown come from list_sessions over the page's ids, with the exact definitions.
_SESSION_KEYS_SQL = """
WITH t AS (
    SELECT trace_id,
           max(session_id) AS session_id,
           min(start_ns) AS start_ns,
           max(end_ns) AS end_ns,
           max(status_code = 'ERROR') AS has_error,
           max(CASE WHEN parent_span_id IS NULL THEN outcome END) AS root_outcome,
           max(coalesce(outcome = 'interrupted', 0)) AS any_interrupted,
           max(coalesce(user_id = :user, 0)) AS has_user,
           sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens,
           sum(cache_read_tokens) AS cache_read_tokens,
           sum(cache_write_tokens) AS cache_write_tokens,
           sum(reasoning_tokens) AS reasoning_tokens,
           sum(cost_usd) AS cost_usd
    FROM spans GROUP BY trace_id
),
ti AS (
    SELECT t.*,
           CASE WHEN root_outcome = 'interrupted' OR (root_outcome IS NULL AND any_interrupted) THEN 1 ELSE 0 END
               AS interrupted
    FROM t WHERE session_id IS NOT NULL
),
k AS (
    SELECT session_id,
           min(start_ns) AS first_start_ns,
           max(end_ns) AS last_end_ns,
           count(*) AS traces,
           sum(has_error AND NOT interrupted) AS errors,
           sum(interrupted) AS interrupted,
           max(has_user) AS has_user,
           sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens,
           sum(cache_read_tokens) AS cache_read_tokens,
           sum(cache_write_tokens) AS cache_write_tokens,
           sum(reasoning_tokens) AS reasoning_tokens,
           sum(cost_usd) AS cost_usd
    FROM ti GROUP BY session_id
){ttft_cte}
SELECT k.session_id, count(*) OVER () AS total
FROM k{ttft_join}
WHERE (:user IS NULL OR k.has_user)
  AND (:since IS NULL OR coalesce(k.last_end_ns, k.first_start_ns) >= :since)
  AND (:until IS NULL OR k.first_start_ns <= :until)
ORDER BY ({column}) IS NULL, {column} {direction}, k.session_id
LIMIT :limit OFFSET :offset
"""

_SESSION_KEYS_TTFT_CTE = """,
tt AS (
    SELECT t.session_id, sp.ttft_ms,
           row_number() OVER (PARTITION BY t.session_id ORDER BY sp.ttft_ms) AS i,
           count(*) OVER (PARTITION BY t.session_id) AS n
    FROM spans AS sp JOIN t USING (trace_id)
    WHERE sp.ttft_ms IS NOT NULL AND sp.usage_counted_in IS NULL AND t.session_id IS NOT NULL
),
tm AS (
    SELECT session_id, avg(ttft_ms) AS ttft_median_ms
    FROM tt WHERE i IN ((n + 1) / 2, (n + 2) / 2) GROUP BY session_id
)"""


def session_keys_sql(order_by: str = "-last_trace") -> str:
    """The key query of :func:`page_sessions` for ``order_by`` (exposed for tests and ``EXPLAIN``).

    Named parameters: ``:user``, ``:since``, ``:until`` (Unix ns or NULL), ``:limit``, ``:offset``.
    Returns ``(session_id, total)`` rows, ``total`` being the count of matching sessions.
    """
    descending = order_by.startswith("-")
    key = order_by.lstrip("-+")
    column = _PAGE_ORDER.get(key)
    if column is None:
        raise ValueError(f"cannot order by {order_by!r}; use one of {sorted(_PAGE_ORDER)} (prefix '-' for descending)")
    ttft = key == "ttft_median_ms"
    return _SESSION_KEYS_SQL.format(
        ttft_cte=_SESSION_KEYS_TTFT_CTE if ttft else "",
        ttft_join=" LEFT JOIN tm ON tm.session_id = k.session_id" if ttft else "",
        column=column,
        direction="DESC" if descending else "ASC",
    )


def page_sessions(
    db: Db,
    user: str | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    limit: int = 50,
    offset: int = 0,
    order_by: str = "-last_trace",
) -> SessionPage:
    """One page of :func:`list_sessions`, with the total, fast on large stores.

    Same filters and sort fields as :func:`list_sessions` (plus
    ``cache_read_tokens``, ``cache_write_tokens`` and ``reasoning_tokens``);
    sessions without a value for the sort field come last either way, and
    ties go by session id (as in :func:`list_sessions`). A light key query
    (one pass over the spans, ``LIMIT`` / ``OFFSET``) picks the page's session
    ids; the full aggregate then runs for those ids only, through the session
    index, in the same read snapshot.
    """
    sql = session_keys_sql(order_by)
    limit = max(int(limit), 1)
    offset = max(int(offset), 0)
    params: dict[str, Any] = {
        "user": user,
        "since": _ns(since),
        "until": _ns(until),
        "limit": limit,
        "offset": offset,
    }
    with _reading(db) as conn:
        rows = retry_locked(lambda: conn.execute(sql, params).fetchall())
        if rows:
            total = int(rows[0][1])
        elif offset > 0:  # past the end: still say how many there are
            counted = retry_locked(lambda: conn.execute(sql, {**params, "limit": 1, "offset": 0}).fetchall())
            total = int(counted[0][1]) if counted else 0
        else:
            total = 0
        ids = [str(r[0]) for r in rows]
        found = list_sessions(conn, session_ids=ids, limit=len(ids), order_by="session_id") if ids else []
    by_id = {s.session_id: s for s in found}
    sessions = [by_id[i] for i in ids if i in by_id]
    return SessionPage(sessions=sessions, total=total, offset=offset, limit=limit, order_by=order_by)


def list_users(db: Db, limit: int = 1000) -> list[str]:
    """The distinct user ids in the store, sorted (at most ``limit``)."""
    with _reading(db) as conn:
        rows = retry_locked(
            lambda: conn.execute(
                "SELECT DISTINCT user_id FROM spans WHERE user_id IS NOT NULL ORDER BY user_id LIMIT ?", (int(limit),)
            ).fetchall()
        )
    return [str(r[0]) for r in rows]


__all__ += ["SESSION_PAGE_ORDER_KEYS", "SessionPage", "list_users", "page_sessions", "session_keys_sql"]
