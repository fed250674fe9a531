"""Captured message lists stored once: content-addressed messages and shared list prefixes.

A conversation's messages repeat in every later model call (and in every
LangGraph node's state). The writer takes each captured value that is a JSON
list of message objects (or a JSON object holding such lists, as a graph
state ``{"messages": [...]}``), stores every message's text once under its
hash (``messages``), and the list as a chain of prefixes (``message_lists``:
a list is its parent list plus one message), so a list that extends an
earlier one costs only its new messages. The span keeps a small reference in
its ``content`` column; reading puts back exactly the text that was captured.

The split is generic over the message shape: any list of JSON objects at the
top of the value or as its first member, each message kept as the exact text
it had (so reading back gives the captured text byte for byte).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable
from typing import Any

from threadline import semconv as sc

__all__ = ["CONTENT_ATTRIBUTES", "ContentWriter", "restore", "split"]

# Attributes that may hold captured message lists (the mirrors of these are dropped before).
CONTENT_ATTRIBUTES: tuple[str, ...] = (
    sc.OI_INPUT_VALUE,
    sc.OI_OUTPUT_VALUE,
    sc.GEN_AI_INPUT_MESSAGES,
    sc.GEN_AI_OUTPUT_MESSAGES,
)
# Values shorter than this are kept inline: a reference would not be much smaller.
MIN_SPLIT_CHARS = 48

# Where a message list starts: at the top (``[``) or as the first value of an object (``{"messages": [``).
_LIST_START = re.compile(r'\[|\{\s*"(?:[^"\\]|\\.)*"\s*:\s*\[')
_DECODER = json.JSONDecoder()

# A pending split: (prefix, separator, message texts, rest); the text is
# ``prefix + separator.join(messages) + rest``, each message exactly as it appears in the text.
Pending = tuple[str, str, list[str], str]


def split(text: Any) -> Pending | None:
    """How to store ``text`` as shared messages, or ``None`` to keep it inline as it is.

    The messages are found by scanning, not by re-encoding, so the split is
    exact by construction and also works on a value cut by the size cap (the
    complete messages are shared, the cut one stays in ``rest``).
    """
    if text.__class__ is not str or len(text) < MIN_SPLIT_CHARS:
        return None
    start = _LIST_START.match(text)
    if start is None:
        return None
    pos = start.end()
    messages: list[str] = []
    separator: str | None = None
    end = pos
    while True:
        try:
            value, end_of = _DECODER.raw_decode(text, pos)
        except ValueError:
            break
        if not isinstance(value, dict):
            break
        messages.append(text[pos:end_of])
        end = end_of
        following = ", " if text.startswith(", ", end_of) else ("," if text.startswith(",", end_of) else None)
        if following is None or (separator is not None and following != separator):
            break
        separator = following
        pos = end_of + len(following)
    if not messages:
        return None
    return text[: start.end()], separator or ", ", messages, text[end:]


def _hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class ContentWriter:
    """Resolves message texts and lists to ids inside a write transaction, with caches.

    The caches hold ids of rows already committed; :meth:`forget` drops them when a
    transaction rolls back or another connection may have deleted content
    (``meta.content_epoch`` changed: a prune or delete).
    """

    _MAX_CACHED = 200_000

    def __init__(self) -> None:
        self._messages: dict[bytes, int] = {}
        self._cells: dict[tuple[int, int], int] = {}
        self._epoch: str | None = None
        self._fresh_messages: list[bytes] = []
        self._fresh_cells: list[tuple[int, int]] = []

    def begin(self, conn: sqlite3.Connection) -> None:
        """Call at the start of each write transaction."""
        row = conn.execute("SELECT value FROM meta WHERE key = 'content_epoch'").fetchone()
        epoch = row[0] if row else None
        if epoch != self._epoch or len(self._messages) + len(self._cells) > self._MAX_CACHED:
            self.forget()
            self._epoch = epoch
        self._fresh_messages, self._fresh_cells = [], []

    def forget(self) -> None:
        """Drop every cached id."""
        self._messages.clear()
        self._cells.clear()

    def rolled_back(self) -> None:
        """The transaction failed: ids cached during it may not exist."""
        for key in self._fresh_messages:
            self._messages.pop(key, None)
        for cell in self._fresh_cells:
            self._cells.pop(cell, None)

    def _message(self, conn: sqlite3.Connection, text: str) -> int:
        key = _hash(text)
        found = self._messages.get(key)
        if found is None:
            row = conn.execute("SELECT id FROM messages WHERE hash = ?", (key,)).fetchone()
            if row is None:
                found = conn.execute("INSERT INTO messages (hash, text) VALUES (?, ?)", (key, text)).lastrowid
            else:
                found = row[0]
            self._messages[key] = found
            self._fresh_messages.append(key)
        return found  # type: ignore[return-value]

    def list_id(self, conn: sqlite3.Connection, texts: Iterable[str]) -> int:
        """The id of the message list ``texts`` (its prefixes are shared with every list that has them)."""
        parent = 0
        for text in texts:
            cell = (parent, self._message(conn, text))
            found = self._cells.get(cell)
            if found is None:
                row = conn.execute("SELECT id FROM message_lists WHERE parent = ? AND message = ?", cell).fetchone()
                if row is None:
                    found = conn.execute("INSERT INTO message_lists (parent, message) VALUES (?, ?)", cell).lastrowid
                else:
                    found = row[0]
                self._cells[cell] = found
                self._fresh_cells.append(cell)
            parent = found  # type: ignore[assignment]
        return parent

    def reference(self, conn: sqlite3.Connection, pending: Pending) -> list[Any]:
        """The JSON-ready reference kept in the span's ``content`` column for one split value."""
        prefix, separator, messages, rest = pending
        return [prefix, separator, self.list_id(conn, messages), rest]


_CHAIN_SQL = """
WITH RECURSIVE chain(id, parent, message, depth) AS (
    SELECT id, parent, message, 0 FROM message_lists WHERE id = ?
    UNION ALL
    SELECT l.id, l.parent, l.message, chain.depth + 1 FROM message_lists AS l JOIN chain ON l.id = chain.parent
)
SELECT m.text FROM chain JOIN messages AS m ON m.id = chain.message ORDER BY chain.depth DESC
"""


def _text(conn: sqlite3.Connection, reference: list[Any]) -> str:
    prefix, separator, list_id, rest = reference
    return prefix + separator.join(r[0] for r in conn.execute(_CHAIN_SQL, (list_id,))) + rest


def restore(
    conn: sqlite3.Connection, content: str | None, attributes: dict[str, Any], only: Iterable[str] | None = None
) -> dict[str, Any]:
    """``attributes`` with the values its span's ``content`` column refers to put back (``only`` those names)."""
    if not content:
        return attributes
    references = json.loads(content)
    wanted = set(only) if only is not None else None
    for name, reference in references.items():
        if wanted is None or name in wanted:
            attributes[name] = _text(conn, reference)
    return attributes
