"""Full-text search over captured content: an SQLite FTS5 index kept in step with the spans.

What is indexed: the text of each span's captured inputs, outputs, messages, tool
arguments and results, interrupt payloads and resume values (the string values
inside them, not JSON keys). Nothing else: with ``capture_content=False`` no
such attribute is recorded, so nothing is indexed.

The index row of a span has the span's ``rowid`` (its metadata is the span row
itself), and is written by :class:`Indexer` inside the exporter's write
transaction. A conversation repeats its history in every later model call; each
text is indexed once per session (per trace without one), in the trace where
it first appeared, so the index grows with the conversation, not its square.

:func:`search` lists the traces whose text matches an FTS5 query (newest first),
each with a highlighted snippet; a query FTS5 cannot parse raises
:class:`SearchSyntaxError` with a plain message.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from threadline import semconv as sc
from threadline.store.content import restore
from threadline.store.reading import Db, TimeArg, fetch, ns, reading
from threadline.store.results import _iso
from threadline.store.tables import SPAN_COLUMNS

__all__ = [
    "INDEXED_ATTRIBUTES",
    "SCHEMA",
    "Indexer",
    "SearchHit",
    "SearchSyntaxError",
    "backfill",
    "forget_traces",
    "search",
]

# Attributes whose captured text is searchable (mirrors of these are dropped by the writer).
INDEXED_ATTRIBUTES: tuple[str, ...] = (
    sc.OI_INPUT_VALUE,
    sc.OI_OUTPUT_VALUE,
    sc.GEN_AI_INPUT_MESSAGES,
    sc.GEN_AI_OUTPUT_MESSAGES,
    sc.GEN_AI_TOOL_CALL_ARGUMENTS,
    sc.GEN_AI_TOOL_CALL_RESULT,
    sc.INTERRUPT_VALUES,
    sc.RESUME_VALUE,
)
_QUOTED_NAMES = tuple(f'"{name}"' for name in INDEXED_ATTRIBUTES)
_SESSION_AT, _ATTRIBUTES_AT = SPAN_COLUMNS.index("session_id"), SPAN_COLUMNS.index("attributes")

SCHEMA: tuple[str, ...] = (
    # rowid = the span's rowid in ``spans``; ``text`` = its searchable text.
    "CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(text, tokenize = 'unicode61 remove_diacritics 2')",
)

# JSON keys whose values are structure, not words a user searches for.
_SKIPPED_KEYS = frozenset({"role", "type", "id", "tool_call_id", "mime_type"})
# Control and bidirectional characters (threadline.safe_text.UNSAFE, without importing Rich into the
# writer) never reach the index: snippets mark matches with \x02 / \x03.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")
_START, _END = "\x02", "\x03"
SNIPPET_TOKENS = 16


class SearchSyntaxError(ValueError):
    """The search query is not valid FTS5 syntax."""


def _leaves(value: Any, out: list[str]) -> None:
    """The string values inside a decoded JSON value (keys left out), depth first."""
    if isinstance(value, str):
        if value.strip():
            out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _SKIPPED_KEYS:
                _leaves(item, out)
    elif isinstance(value, (list, tuple)):  # a tuple: an attribute sequence not yet through JSON
        for item in value:
            _leaves(item, out)
    elif value is not None and not isinstance(value, bool):
        out.append(str(value))


def _texts(value: Any) -> list[str]:
    """The words-bearing strings of one captured value (a JSON text is decoded first)."""
    out: list[str] = []
    if isinstance(value, str):
        stripped = value.lstrip()
        if stripped[:1] in ("{", "[", '"'):
            try:
                _leaves(json.loads(value), out)
                return out
            except ValueError:
                pass
        _leaves(value, out)
    else:
        _leaves(value, out)
    return out


class Indexer:
    """Writes spans' searchable text into the ``search`` table inside the writer's transaction.

    Remembers (bounded) which texts each session has had indexed, so that a
    history repeated in later calls is not indexed again; a forgotten memory
    (a new process) only costs an index entry twice, never a missed one.
    """

    _MAX_SEEN = 500_000

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._fresh: list[int] = []
        # (scope, generation, list id) of the message lists whose messages were all indexed in that scope.
        self._lists: set[tuple[str, int, int]] = set()
        self._fresh_lists: list[tuple[str, int, int]] = []

    def _new(self, scope: str, texts: Iterable[str], out: list[str]) -> None:
        seen = self._seen
        for text in texts:
            key = hash((scope, text))
            if key not in seen:
                seen.add(key)
                self._fresh.append(key)
                out.append(text)

    def _messages(self, scope: str, messages: list[str], hint: Any, decoded: list[Any], out: list[str]) -> None:
        """The not yet indexed words of one split message list (see :data:`threadline.store.content.Pending`)."""
        seen, lists = self._seen, self._lists
        own, base = hint[0], hint[1]
        remembered = len(messages) - len(decoded)  # the first ones came from a list the splitter remembered
        # A list this one extends that was indexed in this scope: its messages are, too (the common case:
        # a conversation's history, repeated in each later call).
        start = remembered if base is not None and (scope, base[0], base[1]) in lists else 0
        for i in range(start, len(messages)):
            message = messages[i]
            key = hash((scope, message))
            if key in seen:  # the whole message seen: skip its words
                continue
            seen.add(key)
            self._fresh.append(key)
            if i >= remembered:
                words: list[str] = []
                _leaves(decoded[i - remembered], words)
            else:
                words = _texts(message)
            self._new(scope, words, out)
        if own[0] >= 0:  # the list has its id (the writer resolved it before indexing)
            mark = (scope, own[0], own[1])
            lists.add(mark)
            self._fresh_lists.append(mark)

    def span_text(self, scope: str, attributes: dict[str, Any] | str | None, pending: dict[str, Any] | None) -> str:
        """The not yet indexed text of one span (``attributes`` as a dict or its stored JSON)."""
        out: list[str] = []
        if pending:
            for _name, (_prefix, _separator, messages, rest, hint, decoded) in pending.items():
                self._messages(scope, messages, hint, decoded, out)
                if len(rest) > 2:  # a value cut by the size cap keeps its last, partial message here
                    self._new(scope, [rest.strip(" ,]}")], out)
        if isinstance(attributes, str):
            if not any(name in attributes for name in _QUOTED_NAMES):
                attributes = None
            else:
                try:
                    attributes = json.loads(attributes)
                except ValueError:
                    attributes = None
        if isinstance(attributes, dict):
            for name in INDEXED_ATTRIBUTES:
                value = attributes.get(name)
                if value is not None:
                    self._new(scope, _texts(value), out)
        return _CONTROL.sub(" ", "\n".join(out))

    def index(
        self,
        conn: sqlite3.Connection,
        encoded: Sequence[Sequence[Any]],
        rowids: dict[tuple[str, str], int] | None = None,
    ) -> None:
        """Index a batch just inserted into ``spans`` (exporter rows, in :data:`SPAN_COLUMNS` order).

        An item of ``encoded`` is ``(row, pending)`` or ``(row, pending, attributes)``, the last
        the attribute dict the row's ``attributes`` JSON was written from (saves decoding it).
        ``rowids`` maps (trace id, span id) to the ``spans`` rowid where the writer knows it;
        the others are looked up.
        """
        self._fresh, self._fresh_lists = [], []
        if len(self._seen) + len(self._lists) > self._MAX_SEEN:
            self._seen.clear()
            self._lists.clear()
        docs = []
        for item in encoded:
            row = item[0]
            attributes = item[2] if len(item) > 2 else row[_ATTRIBUTES_AT]
            text = self.span_text(row[_SESSION_AT] or row[0], attributes, item[1])
            if not text:
                continue
            rowid = rowids.get((row[0], row[1])) if rowids is not None else None
            if rowid is None:
                found = conn.execute("SELECT rowid FROM spans WHERE trace_id = ? AND span_id = ?", (row[0], row[1]))
                rowid = (found.fetchone() or (None,))[0]
            if rowid is not None:
                docs.append((rowid, text))
        if docs:
            conn.executemany("INSERT OR REPLACE INTO search (rowid, text) VALUES (?, ?)", docs)

    def rolled_back(self) -> None:
        """The transaction of the last :meth:`index` failed: what it remembered was never written."""
        self._seen.difference_update(self._fresh)
        self._lists.difference_update(self._fresh_lists)
        self._fresh, self._fresh_lists = [], []


def forget_traces(conn: sqlite3.Connection, trace_ids: Sequence[str]) -> None:
    """Remove the index rows of the spans of ``trace_ids`` (call before deleting those spans)."""
    marks = ", ".join("?" for _ in trace_ids)
    conn.execute(f"DELETE FROM search WHERE rowid IN (SELECT rowid FROM spans WHERE trace_id IN ({marks}))", trace_ids)


def backfill(conn: sqlite3.Connection) -> None:
    """Index every stored span (a migration's back-fill) in the order they ended, as the exporter indexes them.

    The exporter indexes a batch in export order (spans are exported as they
    end) and stores rows grouped by shape, so rowid order is not that order.
    """
    conn.execute("DELETE FROM search")
    indexer = Indexer()
    rows = conn.execute("SELECT rowid, trace_id, session_id, attributes, content FROM spans ORDER BY end_ns, rowid")
    docs = []
    for rowid, trace_id, session_id, attributes, content in rows.fetchall():
        try:
            attrs = json.loads(attributes) if attributes else {}
        except ValueError:
            attrs = {}
        if not isinstance(attrs, dict):
            continue
        if content:
            attrs = restore(conn, content, attrs)
        text = indexer.span_text(session_id or trace_id, attrs, None)
        if text:
            docs.append((rowid, text))
    conn.executemany("INSERT INTO search (rowid, text) VALUES (?, ?)", docs)


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
    for i in range(0, len(traces), 500):
        chunk = traces[i : i + 500]
        marks = ", ".join("?" for _ in chunk)
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
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ", ".join("?" for _ in chunk)
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
