"""How the views say numbers, times and captured text: shared by the terminal and the web view.

Both ``threadline`` (:mod:`threadline.cli`) and ``threadline ui``
(:mod:`threadline.ui`) import these, so a duration, a token count or a cost
reads the same in either. Nothing here escapes: each view makes the text
inert for its own medium (:mod:`threadline.safe_text`, the page templates).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from threadline.store.results import Turn

__all__ = [
    "fmt_cost",
    "fmt_duration",
    "fmt_local",
    "fmt_time",
    "fmt_tokens",
    "readable",
    "turn_input_text",
    "turn_output_text",
]


def fmt_local(ns: int | None, same_day_as: int | None = None, *, clock: str = "%H:%M:%S", day: str = "%Y-%m-%d") -> str:
    """Local time as ``clock``, after ``day`` unless it is the day of ``same_day_as``; ``-`` when unknown."""
    if ns is None:
        return "-"
    value = datetime.fromtimestamp(ns / 1e9).astimezone()
    if same_day_as is not None and datetime.fromtimestamp(same_day_as / 1e9).astimezone().date() == value.date():
        return value.strftime(clock)
    return value.strftime(f"{day} {clock}")


def fmt_time(ns: int | None, *, since: int | None = None) -> str:
    """Local date and time to the second; the date is left out when it is the same day as ``since``."""
    return fmt_local(ns, since)


def fmt_duration(ms: float | None) -> str:
    """``0.4 ms``, ``850 ms``, ``1.25 s``, ``3m 05s``, ``2h 03m``."""
    if ms is None:
        return "-"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24:02d}h"


def fmt_tokens(n: int | None) -> str:
    """``1,500``; ``12.3k`` from 10,000; ``1.2M`` from a million; ``-`` when not reported."""
    if n is None:
        return "-"
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.1f}k"
    return f"{n:,}"


def fmt_cost(usd: float | None) -> str:
    """US dollars, with enough digits for a single cheap call; ``-`` when unknown."""
    if usd is None:
        return "-"
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return f"${usd:.6f}"
    if usd < 100:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


def _message_text(message: Any) -> str | None:
    if isinstance(message, str):
        return message
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        texts += [p for p in content if isinstance(p, str)]
        return "\n".join(texts) if texts else None
    return None


def readable(value: str | None, *, last_only: bool) -> str | None:
    """The text of a captured value: for a ``{"messages": [...]}`` state, the message text.

    Inputs show every message given (usually the user's new one); outputs
    show the last message (the reply). Anything else is shown as recorded.
    """
    if value is None:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return value
    if isinstance(data, dict) and set(data) == {"args", "kwargs"} and not data["kwargs"]:
        # @threadline.observe's capture of f("question"): the one argument is the input.
        args = data["args"]
        if isinstance(args, list) and len(args) == 1 and isinstance(args[0], str):
            return args[0]
    messages = data.get("messages") if isinstance(data, dict) else data if isinstance(data, list) else None
    if isinstance(messages, list) and messages:
        chosen = messages[-1:] if last_only else messages
        texts = [_message_text(m) for m in chosen]
        if all(t is not None for t in texts):
            return "\n".join(t for t in texts if t is not None)
    return value


def turn_input_text(turn: Turn) -> str | None:
    """A turn's input to show, unless it only repeats what the human answered (a resume's input is the answer)."""
    text = readable(turn.input, last_only=False)
    if text is not None and turn.is_resume and turn.resume_value is not None:
        if _normalised(text) == _normalised(turn.resume_value):
            return None
    return text


def turn_output_text(turn: Turn) -> str | None:
    """A turn's output to show; an interrupted turn's output is what it asked the human, shown as the interrupt."""
    if turn.outcome == "interrupted" and turn.interrupts:
        return None
    return readable(turn.output, last_only=True)


def _normalised(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()
