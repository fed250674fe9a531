"""Full-text search over captured content: the traces whose text matches an FTS5 query.

The index (an SQLite FTS5 table whose rows are the spans' rowids) is written by
:mod:`.search_index` inside the exporter's transaction. :func:`search` lists the
traces whose text matches an FTS5 query (newest first), each with a highlighted
snippet; a query FTS5 cannot parse raises :class:`SearchSyntaxError` with a plain
message.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from threadline.store.batched import in_lists
from threadline.store.reading import Db, TimeArg, fetch, ns, reading
from threadline.store.results import _iso
from threadline.store.search_index import CONTROL as _CONTROL
from threadline.store.search_index import INDEXED_ATTRIBUTES, Indexer, backfill, forget_traces

__all__ = [
    "INDEXED_ATTRIBUTES",
    "Indexer",
    "SearchHit",
    "SearchSyntaxError",
    "backfill",
    "forget_traces",
    "search",
]

_SPACE = re.compile(r"\s+")
_START, _END = "\x02", "\x03"
SNIPPET_TOKENS = 16


class SearchSyntaxError(ValueError):
    """The search query is not valid FTS5 syntax."""


@dataclass(frozen=True)
class SearchHit:
    """A trace whose captured text matches the query, with the first matching span's snippet."""

    trace_id: str
    session_id: str | None
    span_id: str
    span_name: str
    start_ns: int
    outcome: str | None
    trace_name: str | None
    snippet: tuple[tuple[str, bool], ...]
    """The matching passage as ``(text, is_match)`` parts, control characters removed."""
    matches: int
    """Matching spans of this trace among those read (at least 1)."""

    @property
    def snippet_text(self) -> str:
        """The snippet as plain text, matches in ``[...]``."""
        return "".join(f"[{t}]" if hit else t for t, hit in self.snippet)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["snippet"] = self.snippet_text
        out["start"] = _iso(self.start_ns)
        return out


def _parts(snippet: str) -> tuple[tuple[str, bool], ...]:
    """``a\\x02b\\x03c`` -> (("a", False), ("b", True), ("c", False)), newlines as spaces."""
    parts: list[tuple[str, bool]] = []
    for i, piece in enumerate(re.split(f"[{_START}{_END}]", snippet)):
        piece = _SPACE.sub(" ", _CONTROL.sub(" ", piece))
        if piece:
            parts.append((piece, i % 2 == 1))
    return tuple(parts)


_SEARCH_SQL = f"""
SELECT s.trace_id, s.span_id, s.name, s.session_id, t.start_ns,
       snippet(search, 0, '{_START}', '{_END}', '…', {SNIPPET_TOKENS})
FROM search JOIN spans AS s ON s.rowid = search.rowid JOIN traces AS t ON t.trace_id = s.trace_id
WHERE search MATCH :query {{rowids}}
  AND (:session_id IS NULL OR t.session_id = :session_id)
  AND (:since IS NULL OR t.start_ns >= :since)
  AND (:until IS NULL OR t.start_ns <= :until)
ORDER BY search.rowid DESC
"""


def _friendly(exc: sqlite3.OperationalError, query: str) -> SearchSyntaxError:
    detail = str(exc).removeprefix("fts5: ")
    return SearchSyntaxError(
        f"cannot search for {query!r}: {detail}. Words match as they are (refund order); put text with "
        'punctuation in double quotes ("order 1234?"); AND, OR, NOT, NEAR(...) and a trailing * are operators'
    )


# A session's spans, or those of the traces that started in a window, lie between two rowids: the search
# reads only that part of the index (a word common to every session would otherwise be read to its oldest match).
_SESSION_ROWIDS = """
SELECT min(s.rowid), max(s.rowid) FROM traces AS t JOIN spans AS s ON s.trace_id = t.trace_id
WHERE t.session_id = ?
"""
WINDOW_TRACES = 5000
"""Up to this many traces in a ``since`` / ``until`` window, the window's rowid range is worked out first."""


def _window_rowids(conn: sqlite3.Connection, params: dict[str, Any]) -> tuple[int | None, int | None] | None:
    """(lowest, highest) rowid of the spans of the window's traces; ``(None, None)`` when the window is too big."""
    terms = [f"start_ns {op} :{name}" for name, op in (("since", ">="), ("until", "<=")) if params[name] is not None]
    sql = f"SELECT trace_id FROM traces WHERE {' AND '.join(terms)} LIMIT {WINDOW_TRACES + 1}"
    traces = [r[0] for r in fetch(conn, sql, params)]
    if not traces:
        return None
    if len(traces) > WINDOW_TRACES:
        return None, None
    lo, hi = None, None
    for marks, chunk in in_lists(traces):
        low, high = fetch(conn, f"SELECT min(rowid), max(rowid) FROM spans WHERE trace_id IN ({marks})", chunk)[0]
        if low is not None:
            lo = low if lo is None else min(lo, low)
            hi = high if hi is None else max(hi, high)
    return (lo, hi) if lo is not None else None


def _bounds(conn: sqlite3.Connection, params: dict[str, Any]) -> tuple[int | None, int | None] | None:
    """The rowid range that can hold matches (``None`` ends: unbounded); ``None`` when nothing can match."""
    lo, hi = None, None
    if params["session_id"] is not None:
        lo, hi = fetch(conn, _SESSION_ROWIDS, (params["session_id"],))[0]
        if lo is None:
            return None
    if params["since"] is not None or params["until"] is not None:
        window = _window_rowids(conn, params)
        if window is None:
            return None
        if window[0] is not None:
            lo = window[0] if lo is None else max(lo, window[0])
            hi = window[1] if hi is None else min(hi, window[1])
    return lo, hi


def _rows(conn: sqlite3.Connection, params: dict[str, Any], query: str) -> Iterator[tuple[Any, ...]]:
    bounds = _bounds(conn, params)
    if bounds is None or (bounds[0] is not None and bounds[0] > bounds[1]):
        return
    params["lo"], params["hi"] = bounds
    rowids = "AND search.rowid BETWEEN :lo AND :hi" if bounds[0] is not None else ""
    try:
        cursor = conn.execute(_SEARCH_SQL.format(rowids=rowids), params)
        yield from cursor
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if "fts5" in text or "syntax error" in text or "no such column" in text or "unterminated" in text:
            raise _friendly(exc, query) from None
        raise


def search(
    db: Db,
    query: str,
    *,
    session_id: str | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    limit: int = 50,
) -> list[SearchHit]:
    """Traces whose captured text matches ``query`` (FTS5 syntax), newest first, at most ``limit``.

    ``session_id`` searches within one session; ``since`` / ``until`` keep
    traces that started in the window. Raises :class:`SearchSyntaxError` for a query
    FTS5 cannot parse (or an empty one).
    """
    if not query.strip():
        raise SearchSyntaxError("the search query is empty; give a word to look for")
    params = {"query": query, "session_id": session_id, "since": ns(since), "until": ns(until)}
    hits: dict[str, list[Any]] = {}
    with reading(db) as conn:
        rows = _rows(conn, params, query)
        try:
            for trace_id, span_id, name, sid, start, snippet in rows:
                found = hits.get(trace_id)
                if found is not None:
                    found[-1] += 1
                    continue
                if len(hits) >= limit:
                    break
                hits[trace_id] = [trace_id, sid, span_id, name, start, snippet, 1]
        finally:
            rows.close()
        traces: dict[str, tuple[Any, ...]] = {}
        ids = list(hits)
        for marks, chunk in in_lists(ids):
            sql = f"SELECT trace_id, outcome, root_name, start_ns, session_id FROM traces WHERE trace_id IN ({marks})"
            traces.update((r[0], r) for r in fetch(conn, sql, chunk))
    out = []
    for trace_id, sid, span_id, name, start, snippet, count in hits.values():
        trace = traces.get(trace_id)
        out.append(
            SearchHit(
                trace_id=trace_id,
                session_id=trace[4] if trace else sid,
                span_id=span_id,
                span_name=name,
                start_ns=trace[3] if trace else start,
                outcome=trace[1] if trace else None,
                trace_name=trace[2] if trace else None,
                snippet=_parts(snippet or ""),
                matches=count,
            )
        )
    return out
