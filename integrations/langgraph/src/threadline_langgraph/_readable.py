"""A graph turn's input and output as a reader of the conversation wants them.

The root span of a turn is what a session replay shows: for a graph whose
state has ``messages``, the latest user message in and the final assistant
message out, rather than the whole state; for a resume, the value it resumes
with. Any other state is recorded as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from threadline_langchain import _extract as ex
from threadline_langchain._messages import content_text, message_dict, role_of

MESSAGES_KEY = "messages"


def _is_command(value: Any) -> bool:
    return type(value).__name__ == "Command" and hasattr(value, "resume") and hasattr(value, "goto")


def _messages(value: Any) -> list[Any] | None:
    if isinstance(value, Mapping):
        messages = value.get(MESSAGES_KEY)
    else:
        messages = getattr(value, MESSAGES_KEY, None)  # a dataclass or pydantic state
    if isinstance(messages, (list, tuple)) and messages:
        return list(messages)
    if messages is not None and not isinstance(messages, (list, tuple, str)) and role_of(messages):
        return [messages]  # a single message passed to an add_messages channel
    return None


def _role(message: Any) -> str | None:
    if isinstance(message, Mapping):
        role = message.get("role") or message.get("type")
        return message_dict((role, None))["role"] if isinstance(role, str) else None
    if isinstance(message, tuple) and len(message) == 2 and isinstance(message[0], str):
        return message_dict(message)["role"]
    if isinstance(message, str):
        return "user"
    return role_of(message)


def _text(message: Any) -> Any:
    if isinstance(message, str):
        return message
    if isinstance(message, Mapping):
        return message.get("content")
    if isinstance(message, tuple) and len(message) == 2:
        return message[1]
    return content_text(message)


def turn_input(value: Any) -> Any:
    """What a graph turn was asked: the latest user message, a resume value, or the input as is."""
    if value is None:
        return None
    if _is_command(value):
        if value.resume is not None:
            return value.resume
        if value.update is not None:
            return turn_input(value.update) if isinstance(value.update, Mapping) else ex.io_view(value.update)
        return {"goto": ex.io_view(value.goto)}
    messages = _messages(value)
    if messages:
        for message in reversed(messages):
            if _role(message) == "user":
                return _text(message)
        return ex.io_view(messages[-1])
    return ex.io_view(value)


def turn_output(value: Any, *, paused: bool = False) -> Any:
    """What a graph turn answered: the final assistant text, else the last message, else the output as is.

    A turn that paused before answering (its last message is, say, the tool call
    awaiting approval) has no answer: ``None``; its interrupt payload says what it asks.
    """
    messages = _messages(value)
    if messages:
        last = messages[-1]
        if _role(last) == "assistant":
            text = _text(last)
            if isinstance(text, str) and text:
                return text
        return None if paused else ex.io_view(last)
    return ex.io_view(value)
