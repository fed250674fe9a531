"""A chat model run's input messages as attribute text, each message rendered once.

A conversation sends its whole history to the model on every turn, and a
LangGraph checkpointer hands back fresh message objects each time, so the
same messages would be read and encoded again on every turn. Here each
message's JSON fragment is kept in a bounded cache keyed by everything the
fragment shows (class, type, role, content, name, tool call id, tool calls;
non-text parts as their JSON text), so the fragment is a function of its key
and a message changed in place gets a new key, never a stale text. The
fragments are joined in C.

The text is the one :func:`threadline.content.render` makes of
:func:`threadline_langchain._extract.messages_view`'s list; it stops once it
is longer than the content cap, since the emitter keeps only that much of it
(from the start). Anything this cannot render the same way (a redaction hook,
which must see the messages, a value JSON has no type for) returns ``None``:
the caller records the plain view instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any

from threadline.content import ContentPolicy
from threadline_langchain._extract import is_message, message_dict

MAX_CACHED = 4096  # fragments kept (cleared when full: a conversation re-renders once)
_MAX_ITEMS = 200  # the renderer caps longer lists with a marker: those take the plain view
_CHUNK = 32  # messages keyed at a time (the text may be long enough before the end)
_encode = json.JSONEncoder(ensure_ascii=False).encode  # as the renderer's encoder, for plain data
_cache: dict[tuple[Any, ...], str] = {}
_BLOCKS = "blocks"  # tags a content's JSON text in a key, so it never equals a text content
_FIELDS = attrgetter("__dict__")
_TYPE = attrgetter("type")


def messages_text(messages: Sequence[Any], content: ContentPolicy) -> str | None:
    """The attribute text of ``messages`` (at least ``content.max_chars`` of it), or ``None`` for the plain view."""
    if content.redact is not None or len(messages) > _MAX_ITEMS:
        return None
    limit = content.max_chars
    fragments: list[str] = []
    size = -2  # of the text closed after the last fragment: its fragments, ", " between them, "[" and "]"
    try:
        for start in range(0, len(messages), _CHUNK):
            found = _fragments(messages[start : start + _CHUNK])
            if found is None:
                return None
            fragments += found
            size += sum(map(len, found)) + 2 * len(found)
            if size > limit:  # the emitter keeps less than this text's start: the rest would be cut
                break
    except (TypeError, ValueError):  # not plain data (the renderer substitutes), unhashable, or circular
        return None
    return "[" + ", ".join(fragments) + "]"


def _fragments(messages: Sequence[Any]) -> list[Any] | None:
    """The fragments of ``messages``: from the cache where their keys are in it (found in C), else rendered."""
    try:
        fields = list(map(_FIELDS, messages))
        keys = zip(
            map(type, messages),
            map(_TYPE, messages),
            *(map(dict.get, fields, repeat(name)) for name in _KEY_FIELDS),
            map(bool, map(dict.get, fields, repeat("tool_calls"))),
            strict=False,  # all as long as ``messages``
        )
        found: list[Any] = list(map(_cache.get, keys))
    except (AttributeError, TypeError):  # not all messages, or a content that is not text: one by one
        found = [None] * len(messages)
    while None in found:
        at = found.index(None)
        found[at] = _fragment(messages[at])
    return found


# What ``message_dict`` reads from a message's fields, besides its class, its type and its tool calls.
_KEY_FIELDS = ("role", "content", "name", "tool_call_id")


def _fragment(message: Any) -> str:
    """One message's fragment, rendered and kept under its key."""
    if not is_message(message):
        raise TypeError("not a message")
    fields = message.__dict__
    text = fields.get("content")
    calls = fields.get("tool_calls")
    # Every value ``message_dict`` reads, so that the fragment is a function of its key (as in ``_fragments``).
    key = (
        type(message),
        message.type,
        fields.get("role"),
        text if isinstance(text, str) else (_BLOCKS, _encode(text)),
        fields.get("name"),
        fields.get("tool_call_id"),
        _encode(calls) if calls else False,
    )
    fragment = _cache.get(key)
    if fragment is None:
        fragment = _encode(message_dict(message))
        if len(_cache) >= MAX_CACHED:
            _cache.clear()
        _cache[key] = fragment
    return fragment
