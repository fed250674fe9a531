"""LangChain messages as threadline records them: one compact dict each, and a list's text made once per message.

Messages are recognised by class (``BaseMessage``, imported on first use)
and read through their instance ``__dict__``: asking a pydantic model for an
attribute it lacks costs microseconds, and this runs for every message of
every run.

A conversation sends its whole history to the model on every turn, and a
LangGraph checkpointer hands back fresh message objects each time, so the
same messages would be read and encoded again on every turn.
:func:`messages_text` keeps each message's JSON fragment in a bounded cache
keyed by everything the fragment shows (class, type, role, content, name,
tool call id, tool calls; non-text content as its JSON text): the fragment is
a function of its key, and a message changed in place gets a new key, never a
stale text. Keys are looked up and fragments joined in C. The cache holds
user content, so it is bounded in size as well as in entries: a fragment
longer than the content cap (the emitter would cut it anyway) is made again
on each call and not kept, the characters kept are counted against a budget,
and :func:`forget` (on uninstrument, and when content capture is off) empties
it. The text is the
one :func:`threadline.content.render` makes of the list of dicts; it stops
once it is longer than the content cap, since the emitter keeps only that
much of it (from the start). What it cannot render the same way (a redaction
hook, which must see the messages; a value JSON has no type for) is left to
the caller as the list of dicts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any

from threadline.content import ContentPolicy

# LangChain message ``type`` -> the role a reader expects (OpenAI / GenAI convention).
_ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "function",
    "developer": "developer",
    "remove": "remove",
    "AIMessageChunk": "assistant",
    "HumanMessageChunk": "user",
    "SystemMessageChunk": "system",
    "ToolMessageChunk": "tool",
    "FunctionMessageChunk": "function",
}

_message_types: set[type] = set()
_other_types: set[type] = {str, int, float, bool, type(None), dict, list, tuple}


def is_message(value: Any) -> bool:
    """True for a LangChain message object (by class, cached: pydantic's ``isinstance`` is slow)."""
    kind = type(value)
    if kind in _message_types:
        return True
    if kind in _other_types:
        return False
    module = sys.modules.get("langchain_core.messages.base")
    if module is None:
        return False
    known = issubclass(kind, module.BaseMessage)
    if len(_message_types) + len(_other_types) < 4096:
        (_message_types if known else _other_types).add(kind)
    return known


def role_of(message: Any) -> str | None:
    """The reader-facing role of a LangChain message (``user``, ``assistant`` ...), else ``None``."""
    if not is_message(message):
        return None
    kind = message.type
    if kind in ("chat", "ChatMessageChunk"):
        return message.__dict__.get("role") or "chat"
    return _ROLES.get(kind, kind) if isinstance(kind, str) else None


def message_dict(message: Any) -> Any:
    """A compact ``{"role", "content", ...}`` view of one message (any other value as is)."""
    if isinstance(message, tuple) and len(message) == 2 and isinstance(message[0], str):
        role = _ROLES.get(message[0], message[0])
        return {"role": role, "content": message[1]}
    role = role_of(message)
    if role is None:
        return message
    fields = message.__dict__
    out: dict[str, Any] = {"role": role, "content": fields.get("content")}
    name = fields.get("name")
    if name:
        out["name"] = name
    if role == "assistant":
        tool_calls = fields.get("tool_calls")
        if tool_calls:
            out["tool_calls"] = [
                {"id": call.get("id"), "name": call.get("name"), "arguments": call.get("args")}
                for call in tool_calls
                if isinstance(call, dict)
            ]
    elif role == "tool":
        tool_call_id = fields.get("tool_call_id")
        if tool_call_id:
            out["tool_call_id"] = tool_call_id
    return out


def content_text(value: Any) -> Any:
    """A message's content as text where it is text (content blocks joined), else the value."""
    content = getattr(value, "content", value)
    if isinstance(content, list):
        texts = [
            part.get("text") if isinstance(part, Mapping) else part
            for part in content
            if isinstance(part, str) or (isinstance(part, Mapping) and isinstance(part.get("text"), str))
        ]
        if texts and len(texts) == len(content):
            return "".join(texts)
    return content


# -- a list's text, made once per message ----------------------------------------------------------

MAX_CACHED = 4096  # fragments kept (cleared when full: a conversation re-renders once)
MAX_CACHED_CHARS = 1_000_000  # characters kept, keys' text and fragments (cleared when over, as when full)
_MAX_ITEMS = 200  # the renderer caps longer lists with a marker (see ``messages_text``)
_CHUNK = 32  # messages keyed at a time (the text may be long enough before the end)
_encode = json.JSONEncoder(ensure_ascii=False).encode  # as the renderer's encoder, for plain data
_cache: dict[tuple[Any, ...], str] = {}
_cached_chars = 0  # of the keys' text and the fragments in ``_cache``
_BLOCKS = "blocks"  # tags a content's JSON text in a key, so it never equals a text content
_FIELDS = attrgetter("__dict__")
_TYPE = attrgetter("type")


def messages_text(messages: Sequence[Any], content: ContentPolicy) -> str | None:
    """The attribute text of ``messages`` (at least ``content.max_chars`` of it), or ``None`` for the list of dicts.

    A list longer than the renderer's item cap reads the same only when the
    text is cut before the cap's marker, and only for messages of plain text
    (the capped rendering copies nested values with caps of its own).
    """
    if not content.capture or content.redact is not None:
        return None
    limit = content.max_chars
    fragments: list[str] = []
    size = 0  # of the text closed after the last fragment: its fragments, ", " between them, "[" and "]"
    try:
        for start in range(0, len(messages), _CHUNK):
            chunk = messages[start : start + _CHUNK]
            found = _fragments(chunk, limit)
            if len(messages) > _MAX_ITEMS and (start + len(chunk) > _MAX_ITEMS or Nested in set(map(type, found))):
                return None
            fragments += found
            size += sum(map(len, found)) + 2 * len(found)
            if size > limit:  # the emitter keeps less than this text's start: the rest would be cut
                break
        else:
            if len(messages) > _MAX_ITEMS:
                return None
    except Exception:  # noqa: BLE001 - not plain data, unhashable, circular or too deep: the renderer copes
        return None
    return "[" + ", ".join(fragments) + "]"


class Nested(str):
    """The fragment of a message whose compact dict holds more than text (tool calls, content parts ...)."""

    __slots__ = ()


def forget() -> None:
    """Empty the cache (it holds message content): on uninstrument, and when content capture is off."""
    global _cached_chars
    _cache.clear()
    _cached_chars = 0


def _fragments(messages: Sequence[Any], limit: int) -> list[str]:
    """The fragments of ``messages``: from the cache where their keys are in it (found in C), else rendered."""
    try:
        fields = list(map(_FIELDS, messages))
        keys = zip(
            map(type, messages),
            map(_TYPE, messages),  # then what ``message_dict`` reads from the fields, in ``_fragment``'s order
            map(dict.get, fields, repeat("role")),
            map(dict.get, fields, repeat("content")),
            map(dict.get, fields, repeat("name")),
            map(dict.get, fields, repeat("tool_call_id")),
            map(bool, map(dict.get, fields, repeat("tool_calls"))),
            strict=False,  # all as long as ``messages``
        )
        found: list[Any] = list(map(_cache.get, keys))
    except (AttributeError, TypeError):  # not all messages, or a content that is not text: one by one
        found = [None] * len(messages)
    while None in found:
        at = found.index(None)
        found[at] = _fragment(messages[at], limit)
    return found


def _fragment(message: Any, limit: int) -> str:
    """One message's fragment, rendered, and kept under its key unless longer than ``limit``."""
    global _cached_chars
    if not is_message(message):
        raise TypeError("not a message")
    fields = message.__dict__
    text = fields.get("content")
    calls = fields.get("tool_calls")
    # Every value ``message_dict`` reads, so that the fragment is a function of its key (as in ``_fragments``).
    shown = text if isinstance(text, str) else _encode(text)
    shown_calls = _encode(calls) if calls else ""
    key = (
        type(message),
        message.type,
        fields.get("role"),
        shown if shown is text else (_BLOCKS, shown),
        fields.get("name"),
        fields.get("tool_call_id"),
        shown_calls or False,
    )
    fragment = _cache.get(key)
    if fragment is None:
        view = message_dict(message)
        fragment = _encode(view)
        if not all(isinstance(value, str) for value in view.values()):
            fragment = Nested(fragment)
        # Only what fits under the cap is kept: a longer fragment is cut by the emitter anyway, and keeping
        # it (and its content, in the key) would hold a whole prompt in memory for a few characters.
        shown_size = len(shown) + len(shown_calls)
        size = len(fragment) + shown_size
        if len(fragment) <= limit and shown_size <= limit and size <= MAX_CACHED_CHARS:
            if len(_cache) >= MAX_CACHED or _cached_chars + size > MAX_CACHED_CHARS:
                forget()
            _cache[key] = fragment
            _cached_chars += size
    return fragment
