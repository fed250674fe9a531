"""Turn captured values (prompts, outputs, tool arguments) into attribute text.

Applies, in order: the content switch, the user's redaction hook, a safe JSON
rendering (cycles, non-serialisable objects, bytes, pydantic models and
framework messages all render), and the size cap with a truncation marker.
Exception messages and stack traces are captured values too (they quote
completions, tool arguments, request bodies): see :meth:`ContentPolicy.error_text`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

from threadline.masking import mask

logger = logging.getLogger("threadline")

TRUNCATION_MARKER = "...[truncated by threadline]"
# What an exception's message becomes when its text is not captured.
ERROR_TEXT_NOT_CAPTURED = "(message not captured: content capture is off)"
ERROR_TEXT_DROPPED = "(no message recorded)"  # the redact hook dropped it, or str() raised
REDACTION_FAILED = "<redaction failed>"
DEFAULT_MAX_CHARS = 16_384
_MAX_DEPTH = 12
_MAX_ITEMS = 200


def _substitute(value: Any) -> Any:
    """The stand-in for a value JSON has no type for: plain data, or text.

    Shared by both renderings: the C encoder's ``default`` and
    :func:`to_jsonable` (which then copies the stand-in with its caps).
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (set, frozenset)):
        return list(value)
    dump = getattr(value, "model_dump", None)  # pydantic v2, LangChain messages
    if callable(dump) and not isinstance(value, type):
        return dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
    return repr(value)


def to_jsonable(value: Any, _depth: int = 0, _seen: set[int] | None = None) -> Any:
    """A JSON-ready copy of ``value``; never raises, never recurses forever."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if _depth > _MAX_DEPTH:
        return "<max depth>"
    seen = _seen if _seen is not None else set()
    if id(value) in seen:
        return "<cycle>"
    seen.add(id(value))
    try:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for i, (k, v) in enumerate(value.items()):
                if i >= _MAX_ITEMS:
                    out["..."] = f"{len(value) - _MAX_ITEMS} more"
                    break
                out[k if isinstance(k, str) else str(k)] = to_jsonable(v, _depth + 1, seen)
            return out
        if isinstance(value, (list, tuple, set, frozenset)):
            items = list(value)
            rendered = [to_jsonable(v, _depth + 1, seen) for v in items[:_MAX_ITEMS]]
            if len(items) > _MAX_ITEMS:
                rendered.append(f"... {len(items) - _MAX_ITEMS} more")
            return rendered
        substitute = _substitute(value)
        return substitute if isinstance(substitute, str) else to_jsonable(substitute, _depth + 1, seen)
    except Exception:  # noqa: BLE001 - user objects may raise anywhere
        try:
            return f"<unrenderable {type(value).__name__}>"
        except Exception:  # noqa: BLE001
            return "<unrenderable>"
    finally:
        seen.discard(id(value))


_encoder = json.JSONEncoder(ensure_ascii=False, default=_substitute)


def render(value: Any) -> str:
    """Render one value to text: strings as they are, anything else as JSON.

    The C encoder takes the value as it is first (plain data, pydantic models
    and dataclasses through ``default``); what it refuses (cycles, unusual
    keys, objects whose ``model_dump`` raises, nesting too deep) and
    top-level collections over the item cap are copied by :func:`to_jsonable`
    first, which caps them and never fails.
    """
    if isinstance(value, str):
        return value
    if not (isinstance(value, (dict, list, tuple)) and len(value) > _MAX_ITEMS):  # big ones: capped copy
        try:
            return _encoder.encode(value)
        except Exception:  # noqa: BLE001 - cycles, odd keys, or a user's model_dump / __repr__ raising
            pass
    try:
        return json.dumps(to_jsonable(value), ensure_ascii=False, default=str)
    except Exception:  # noqa: BLE001
        return "<unrenderable>"


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """Cap ``text`` at ``max_chars`` characters, marking the cut."""
    if len(text) <= max_chars:
        return text, False
    keep = max(0, max_chars - len(TRUNCATION_MARKER))
    return text[:keep] + TRUNCATION_MARKER, True


class ContentPolicy:
    """Whether and how content is captured; one per :func:`threadline.instrument` call."""

    __slots__ = ("capture", "redact", "max_chars", "capture_errors")

    def __init__(
        self,
        capture: bool = True,
        redact: Callable[[Any], Any] | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        capture_errors: bool | None = None,
    ) -> None:
        self.capture = capture
        self.redact = redact
        self.max_chars = max_chars
        # Exception messages and stack traces follow the content switch unless set on their own.
        self.capture_errors = capture if capture_errors is None else capture_errors

    def text(self, value: Any) -> tuple[str | None, bool]:
        """The attribute text for a captured value, and whether it was cut.

        ``None`` when content capture is off or the value is ``None``. A
        redaction hook that raises drops the value (safer than leaking it).
        """
        # The hot path (one call per captured value): redacted() and rendered() inlined.
        if not self.capture or value is None:
            return None, False
        if self.redact is not None:
            value = self._redact(value)
            if value is None:
                return None, False
            if value is REDACTION_FAILED:
                return value, False
        text = value if isinstance(value, str) else render(value)
        if len(text) <= self.max_chars:
            return text, False
        return truncate(text, self.max_chars)

    def redacted(self, value: Any) -> Any:
        """``value`` as it may be recorded: ``None`` when capture is off, through the redaction hook otherwise."""
        if not self.capture or value is None:
            return None
        if self.redact is not None:
            return self._redact(value)
        return value

    def rendered(self, value: Any) -> tuple[str, bool]:
        """The text of a value already through :meth:`redacted`, capped; and whether it was cut."""
        if value is REDACTION_FAILED:
            return value, False
        return truncate(render(value), self.max_chars)

    def error_text(self, error: BaseException) -> tuple[str, str | None]:
        """The message and stack trace to record for ``error``.

        A fixed note and no stack trace unless exception text is captured
        (``capture_errors``, which follows ``capture`` by default). Captured,
        each has key- and token-shaped strings masked, goes through the
        redaction hook like any captured value, and is capped.
        """
        if not self.capture_errors:
            return ERROR_TEXT_NOT_CAPTURED, None
        message = self._error_part(lambda: str(error))
        stack = self._error_part(lambda: "".join(traceback.format_exception(type(error), error, error.__traceback__)))
        return (message if message is not None else ERROR_TEXT_DROPPED), stack

    def _error_part(self, build: Callable[[], str]) -> str | None:
        try:
            value: Any = mask(build())  # an exception's __str__ is user code and may raise
        except Exception:  # noqa: BLE001
            return None
        if self.redact is not None:
            value = self._redact(value)
            if value is None or value is REDACTION_FAILED:
                return value
            value = mask(render(value))
        return truncate(value, self.max_chars)[0]

    def _redact(self, value: Any) -> Any:
        """The redaction hook's result for ``value``; :data:`REDACTION_FAILED` when it raised."""
        assert self.redact is not None
        try:
            return self.redact(value)
        except Exception:  # noqa: BLE001
            logger.warning("threadline: the redact hook raised; the value was dropped", exc_info=True)
            return REDACTION_FAILED
