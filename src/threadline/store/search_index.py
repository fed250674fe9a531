"""The full-text search index, written: captured text into an SQLite FTS5 table kept in step with the spans.

What is indexed: the text of each span's captured inputs, outputs, messages, tool
arguments and results, interrupt payloads and resume values (the string values
inside them, not JSON keys). Nothing else: with ``capture_content=False`` no
such attribute is recorded, so nothing is indexed.

The index row of a span has the span's ``rowid`` (its metadata is the span row
itself), and is written by :class:`Indexer` inside the exporter's write
transaction. A conversation repeats its history in every later model call; each
text is indexed once per session (per trace without one), in the trace where
it first appeared, so the index grows with the conversation, not its square.
:mod:`.search` reads it.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from threadline import semconv as sc
from threadline.store.batched import insert_rows
from threadline.store.content import CONTENT_ATTRIBUTES, restore
from threadline.store.json_text import loads
from threadline.store.tables import SPAN_COLUMNS

__all__ = ["CONTROL", "INDEXED_ATTRIBUTES", "Indexer", "backfill", "forget_traces"]

# The captured message lists, and the other captured values with words in them.
INDEXED_ATTRIBUTES: tuple[str, ...] = (
    *CONTENT_ATTRIBUTES,
    sc.GEN_AI_TOOL_CALL_ARGUMENTS,
    sc.GEN_AI_TOOL_CALL_RESULT,
    sc.INTERRUPT_VALUES,
    sc.RESUME_VALUE,
)
_QUOTED_NAMES = tuple(f'"{name}"' for name in INDEXED_ATTRIBUTES)
_SESSION_AT, _ATTRIBUTES_AT = SPAN_COLUMNS.index("session_id"), SPAN_COLUMNS.index("attributes")

# JSON keys whose values are structure, not words a user searches for.
_SKIPPED_KEYS = frozenset({"role", "type", "id", "tool_call_id", "mime_type"})
# Control and bidirectional characters (threadline.safe_text.UNSAFE, without importing Rich into the
# writer) never reach the index: snippets mark matches with \x02 / \x03.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


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


def _leaves_of(value: Any) -> list[str]:
    """:func:`_leaves` of ``value`` as a new list; ``RecursionError`` if it nests deeper than Python recurses."""
    out: list[str] = []
    _leaves(value, out)
    return out


def _words(value: Any) -> list[str]:
    """:func:`_leaves` of ``value``; none when it nests deeper than Python recurses (it is not indexed)."""
    try:
        return _leaves_of(value)
    except RecursionError:
        return []


def _texts(value: Any) -> list[str]:
    """The words-bearing strings of one captured value (a JSON text is decoded first)."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "[", '"'):
        try:
            return _leaves_of(loads(value))
        except (ValueError, RecursionError):  # not JSON, or nested too deep: the text as it is
            pass
    return _words(value)


class Indexer:
    """Writes spans' searchable text into the ``search`` table inside the writer's transaction.

    Remembers (bounded) which texts each session has had indexed, so that a
    history repeated in later calls is not indexed again; a forgotten memory
    (a new process) only costs an index entry twice, never a missed one.
    """

    _MAX_SEEN = 25_000

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
            words = _words(decoded[i - remembered]) if i >= remembered else _texts(message)
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
                    attributes = loads(attributes)
                except (ValueError, RecursionError):
                    attributes = None
        if isinstance(attributes, dict):
            for name in INDEXED_ATTRIBUTES:
                value = attributes.get(name)
                if value is not None:
                    self._new(scope, _texts(value), out)
        return CONTROL.sub(" ", "\n".join(out)) if out else ""

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
            insert_rows(conn, "INSERT OR REPLACE INTO search (rowid, text) VALUES", docs)

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
