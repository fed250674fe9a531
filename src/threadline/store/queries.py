"""Typed reads of the SQLite store: sessions, a session's turns, a trace's span tree.

One import for every reader (the ``threadline`` CLI, the web view, yours); the
work is done by modules with one job each:

* :mod:`.sessions`: the sessions table from the session rollups;
* :mod:`.turns`: one session as a conversation, turn by turn;
* :mod:`.traces`: trace rollups and one trace's span tree;
* :mod:`.spans`: stored spans and their captured content;
* :mod:`.results`: the dataclasses they return; :mod:`.reading`: snapshots and times.

Listings read the ``traces`` / ``sessions`` rollups through indexes and never
aggregate spans (see :mod:`threadline.store.rollups` for the definitions).
"""

from __future__ import annotations

from threadline.store.reading import Db, TimeArg, parse_time
from threadline.store.results import (
    InterruptInfo,
    ModelUsage,
    ScoreSummary,
    SessionDetail,
    SessionPage,
    SessionSummary,
    SpanRow,
    TraceDetail,
    TraceSummary,
    Turn,
)
from threadline.store.sessions import (
    SESSION_PAGE_ORDER_KEYS,
    find_session_id,
    list_sessions,
    list_users,
    page_sessions,
)
from threadline.store.traces import AmbiguousIdError, get_trace, list_traces, resolve_trace_id
from threadline.store.turns import get_session

__all__ = [
    "SESSION_PAGE_ORDER_KEYS",
    "AmbiguousIdError",
    "Db",
    "InterruptInfo",
    "ModelUsage",
    "ScoreSummary",
    "SessionDetail",
    "SessionPage",
    "SessionSummary",
    "SpanRow",
    "TimeArg",
    "TraceDetail",
    "TraceSummary",
    "Turn",
    "find_session_id",
    "get_session",
    "get_trace",
    "list_sessions",
    "list_traces",
    "list_users",
    "page_sessions",
    "parse_time",
    "resolve_trace_id",
]
