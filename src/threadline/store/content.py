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
from collections.abc import Iterable, Sequence
from typing import Any

from threadline import semconv as sc
from threadline.store.batched import in_lists, insert_rows

__all__ = ["CONTENT_ATTRIBUTES", "ContentWriter", "Splitter", "restore", "split"]

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

# A pending split: (prefix, separator, message texts, rest, hint, decoded); the text is
# ``prefix + separator.join(messages) + rest``, each message exactly as it appears in the text.
# The hint lets the writer start from the list id of a remembered list this one extends:
# (this list's box, the extended list's box or None, how many messages that list has);
# a box is [generation, list id], filled by the writer. ``decoded``: the values of the
# messages this split parsed, the last ``len(decoded)`` of ``messages`` (the search index
# reads their words without parsing them again); the others came from a remembered list.
Hint = tuple[list[int], "list[int] | None", int]
Pending = tuple[str, str, list[str], str, Hint, list[Any]]


class Splitter:
    """Finds the messages of captured values, remembering recent message lists.

    A conversation's next value usually starts with the messages of the last one:
    those are recognised by one string comparison instead of being parsed again.
    """

    _PROBE = 160  # chars of a list's start that key the memory
    _MAX_KEYS = 1024
    _PER_KEY = 4
    _MAX_CHARS = 1_000_000  # remembered text (each list's region and its messages): forgotten at once beyond

    def __init__(self) -> None:
        self._recent: dict[str, list[tuple[str, str, list[str], list[int]]]] = {}
        self._chars = 0

    def split(self, text: Any) -> Pending | None:
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
        first = pos = start.end()
        key = text[first : first + self._PROBE]
        messages: list[str] = []
        decoded: list[Any] = []
        separator: str | None = None
        end = pos
        base: list[int] | None = None
        n_base = 0
        for region, sep, known, box in self._recent.get(key, ()):
            if text.startswith(region, first):
                messages = list(known)
                end = first + len(region)
                if not text.startswith(sep, end):
                    return text[:first], sep, messages, text[end:], (box, box, len(known)), decoded
                separator, pos, base, n_base = sep, end + len(sep), box, len(known)
                break
        while True:
            try:
                value, end_of = _DECODER.raw_decode(text, pos)
            except (ValueError, RecursionError):  # the rest stays inline, as it is
                break
            if not isinstance(value, dict):
                break
            messages.append(text[pos:end_of])
            decoded.append(value)
            end = end_of
            following = ", " if text.startswith(", ", end_of) else ("," if text.startswith(",", end_of) else None)
            if following is None or (separator is not None and following != separator):
                break
            separator = following
            pos = end_of + len(following)
        if not messages:
            return None
        separator = separator or ", "
        box = [-1, 0]
        self._remember(key, text[first:end], separator, messages, box)
        return text[:first], separator, messages, text[end:], (box, base, n_base), decoded

    def _remember(self, key: str, region: str, separator: str, messages: list[str], box: list[int]) -> None:
        self._chars += 2 * len(region)
        if len(self._recent) >= self._MAX_KEYS or self._chars > self._MAX_CHARS:
            self._recent.clear()
            self._chars = 2 * len(region)
        bucket = self._recent.setdefault(key, [])
        bucket.insert(0, (region, separator, messages, box))
        del bucket[self._PER_KEY :]


def split(text: Any) -> Pending | None:
    """:meth:`Splitter.split` without memory (one value at a time)."""
    return Splitter().split(text)


_BEGIN_SQL = (
    "SELECT (SELECT value FROM meta WHERE key = 'content_epoch'),"
    " (SELECT coalesce(max(id), 0) + 1 FROM messages), (SELECT coalesce(max(id), 0) + 1 FROM message_lists)"
)
_CELL_SQL = (
    "INSERT OR IGNORE INTO message_lists (id, parent, message) VALUES (?, ?, ?)",
    "SELECT id FROM message_lists WHERE parent = ? AND message = ?",
)


def _insert_or_find(conn: sqlite3.Connection, sql: tuple[str, str], values: Any, key: Any) -> tuple[int, bool]:
    """The id of the row ``values`` and whether it is new (inserted: one statement in the common case)."""
    cursor = conn.execute(sql[0], values)
    if cursor.rowcount == 1:
        return int(cursor.lastrowid), True  # type: ignore[arg-type]
    return int(conn.execute(sql[1], key).fetchone()[0]), False


def _hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class ContentWriter:
    """Resolves message texts and lists to ids inside a write transaction, with caches.

    The caches hold ids of rows already committed; :meth:`forget` drops them when a
    transaction rolls back or another connection may have deleted content
    (``meta.content_epoch`` changed: a prune or delete).
    """

    _MAX_CACHED = 20_000  # ids of messages and list cells (and texts) kept across transactions
    _MAX_TEXT_CHARS = 2_000_000  # characters of the texts kept (a message may be long)

    def __init__(self) -> None:
        self._messages: dict[bytes, int] = {}
        self._by_text: dict[str, int] = {}  # skips hashing a message seen before
        self._text_chars = 0  # in _by_text
        self._cells: dict[tuple[int, int], int] = {}
        self._epoch: str | None = None
        self._fresh_messages: list[bytes] = []
        self._fresh_cells: list[tuple[int, int]] = []
        self._generation = 0  # list ids remembered in a Splitter's boxes are valid for this generation only
        # This transaction's new rows: a cell whose parent or message is new is new too, so it is
        # given the next id and written with the others by flush(), not looked up one by one.
        self._new_messages: set[int] = set()
        self._new_cells: set[int] = set()
        self._queued: list[tuple[int, int, int]] = []
        self._next_message = self._next_cell = 1  # read again by begin()

    def begin(self, conn: sqlite3.Connection) -> None:
        """Call at the start of each write transaction."""
        # One statement (each gives the GIL away): the epoch, and the next ids of new messages and list cells.
        epoch, self._next_message, self._next_cell = conn.execute(_BEGIN_SQL).fetchone()
        cached = len(self._messages) + len(self._cells) + len(self._by_text)
        if epoch != self._epoch or cached > self._MAX_CACHED or self._text_chars > self._MAX_TEXT_CHARS:
            self.forget()
            self._epoch = epoch
        self._fresh_messages, self._fresh_cells = [], []
        self._new_messages, self._new_cells, self._queued = set(), set(), []

    def flush(self, conn: sqlite3.Connection) -> None:
        """Write the cells :meth:`list_id` queued; call before the transaction commits."""
        queued, self._queued = self._queued, []
        insert_rows(conn, "INSERT INTO message_lists (id, parent, message) VALUES", queued)

    def forget(self) -> None:
        """Drop every cached id."""
        self._generation += 1
        self._messages.clear()
        self._by_text.clear()
        self._text_chars = 0
        self._cells.clear()

    def rolled_back(self) -> None:
        """The transaction failed: ids cached during it may not exist."""
        self._generation += 1
        for key in self._fresh_messages:
            self._messages.pop(key, None)
        self._by_text.clear()
        self._text_chars = 0
        for cell in self._fresh_cells:
            self._cells.pop(cell, None)

    def prepare(self, conn: sqlite3.Connection, pending: Iterable[Pending]) -> None:
        """Give every message of ``pending`` its id: a few statements for the whole batch, not one a message.

        The messages not cached are looked up in one ``SELECT``; those still missing are new and
        are inserted in one ``INSERT`` with the next ids (the write lock is held: no other writer).
        """
        by_text, cached = self._by_text, self._messages
        missing: dict[bytes, str] = {}
        for split in pending:
            texts = split[2]
            for i in range(self._resume(split[4])[1], len(texts)):  # a remembered list's messages are known
                text = texts[i]
                if text in by_text:
                    continue
                key = _hash(text)
                found = cached.get(key)
                if found is not None:
                    by_text[text] = found
                elif key not in missing:
                    missing[key] = text
                    by_text[text] = -1  # a repeat in this batch is not hashed again; given its id below
        if not missing:
            return
        for marks, part in in_lists(list(missing)):
            for found, key in conn.execute(f"SELECT id, hash FROM messages WHERE hash IN ({marks})", part):
                self._known(key, missing.pop(key), found)
        if not missing:
            return
        first = self._next_message
        self._next_message += len(missing)
        rows = []
        for message_id, (key, text) in enumerate(missing.items(), start=first):
            rows.append((message_id, key, text))
            self._known(key, text, message_id)
            self._new_messages.add(message_id)
        insert_rows(conn, "INSERT INTO messages (id, hash, text) VALUES", rows)

    def _known(self, key: bytes, text: str, found: int) -> None:
        self._messages[key] = found
        self._fresh_messages.append(key)
        self._by_text[text] = found
        self._text_chars += len(text)

    def _message(self, conn: sqlite3.Connection, text: str) -> int:
        known = self._by_text.get(text)
        if known is None:  # not prepared (a caller that skipped prepare()): look it up or add it now
            self.prepare(conn, [("", "", [text], "", ([-1, 0], None, 0), [])])
            known = self._by_text[text]
        return known

    def _resume(self, hint: Hint | None) -> tuple[int, int]:
        """(list id, messages) of the remembered list ``hint`` says this one extends; (0, 0) to start afresh."""
        if hint is not None:
            base = hint[1]
            if base is not None and base[0] == self._generation:
                return base[1], hint[2]
        return 0, 0

    def list_id(self, conn: sqlite3.Connection, texts: Sequence[str], hint: Hint | None = None) -> int:
        """The id of the message list ``texts`` (its prefixes are shared with every list that has them)."""
        parent, start = self._resume(hint)
        for text in texts[start:]:
            cell = (parent, self._message(conn, text))
            found = self._cells.get(cell)
            if found is None:
                found = self._cells[cell] = self._cell(conn, cell)
                self._fresh_cells.append(cell)
            parent = found
        if hint is not None:
            hint[0][:] = [self._generation, parent]
        return parent

    def _cell(self, conn: sqlite3.Connection, cell: tuple[int, int]) -> int:
        """The id of a list cell not in the cache: queued when certainly new, else inserted or found."""
        found = self._next_cell
        if cell[0] in self._new_cells or cell[1] in self._new_messages:
            self._queued.append((found, *cell))
        else:
            found, new = _insert_or_find(conn, _CELL_SQL, (found, *cell), cell)
            if not new:
                return found
        self._next_cell += 1
        self._new_cells.add(found)
        return found

    def reference(self, conn: sqlite3.Connection, pending: Pending) -> list[Any]:
        """The JSON-ready reference kept in the span's ``content`` column for one split value."""
        prefix, separator, messages, rest, hint, _decoded = pending
        return [prefix, separator, self.list_id(conn, messages, hint), rest]


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
