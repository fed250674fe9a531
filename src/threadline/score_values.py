"""What a score is made of, checked: its name, value, comment and target, and its attributes.

Shared by :func:`threadline.score`, the store's ``scores`` table, the CLI's
``annotate`` and the web view's annotate form. It imports nothing of threadline
but the attribute names, so the store can use it without pulling in the runtime.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

from threadline import semconv as sc

__all__ = [
    "DATA_TYPES",
    "MAX_COMMENT_CHARS",
    "MAX_NAME_CHARS",
    "TARGET_KINDS",
    "ScoreTarget",
    "ScoreValue",
    "check_comment",
    "check_name",
    "check_optional",
    "check_text",
    "check_trace_id",
    "parse_value",
    "score_attributes",
    "score_value",
]

MAX_NAME_CHARS = 200
"""Longest score name, category, source or author."""
MAX_COMMENT_CHARS = 4000
"""Longest comment."""

DATA_TYPES = (sc.SCORE_NUMERIC, sc.SCORE_BOOLEAN, sc.SCORE_CATEGORICAL)
TARGET_KINDS = (sc.TARGET_TRACE, sc.TARGET_SESSION)
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class ScoreValue:
    """A checked score value: its data type and how it is stored (a number, or a category)."""

    data_type: str
    number: float | None = None
    """The value of a numeric score; 1.0 / 0.0 for a boolean one."""
    category: str | None = None
    """The value of a categorical score."""

    @property
    def value(self) -> float | bool | str:
        """The value as the user gave it: a float, a bool or a category string."""
        if self.data_type == sc.SCORE_BOOLEAN:
            return bool(self.number)
        if self.data_type == sc.SCORE_NUMERIC:
            assert self.number is not None
            return self.number
        assert self.category is not None
        return self.category


@dataclass(frozen=True)
class ScoreTarget:
    """What a score is about: a trace (by its 32-hex-digit id) or a session (by its id)."""

    kind: str
    id: str


def check_text(value: Any, what: str, *, limit: int = MAX_NAME_CHARS) -> str:
    """``value`` when it is a non-empty printable string of at most ``limit`` characters.

    Raises ``TypeError`` for a non-string and ``ValueError`` for an empty,
    non-printable (control characters, line breaks) or too long one.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    if len(value) > limit:
        raise ValueError(f"{what} must be at most {limit} characters, got {len(value)}")
    if not value.isprintable():
        raise ValueError(f"{what} must be printable text (no control characters or line breaks): {value[:60]!r}")
    return value


def check_name(name: Any) -> str:
    """A score name: non-empty printable text of at most 200 characters."""
    return check_text(name, "score name")


def check_comment(comment: Any) -> str | None:
    """A comment (``None`` or blank: none); line breaks and tabs allowed, other control characters not."""
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise TypeError(f"comment must be a string, got {type(comment).__name__}")
    if not comment.strip():
        return None
    if len(comment) > MAX_COMMENT_CHARS:
        raise ValueError(f"comment must be at most {MAX_COMMENT_CHARS} characters, got {len(comment)}")
    if not comment.replace("\n", " ").replace("\t", " ").replace("\r", " ").isprintable():
        raise ValueError("comment must be printable text (line breaks and tabs allowed, no other control characters)")
    return comment


def check_optional(value: Any, what: str) -> str | None:
    """``None`` (or blank) stays ``None``; anything else must pass :func:`check_text`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return check_text(value, what)


def score_value(value: Any) -> ScoreValue:
    """Check a score value: a finite number, a bool, or a category string (as :func:`check_text`).

    Raises ``TypeError`` for anything else (``None``, lists, dicts, bytes) and
    ``ValueError`` for NaN, infinities and empty or unprintable categories.
    """
    if isinstance(value, bool):
        return ScoreValue(sc.SCORE_BOOLEAN, number=1.0 if value else 0.0)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"a numeric score must be a finite number, got {value!r}")
        return ScoreValue(sc.SCORE_NUMERIC, number=number)
    if isinstance(value, str):
        return ScoreValue(sc.SCORE_CATEGORICAL, category=check_text(value, "a categorical score value"))
    raise TypeError(f"a score value is a number, a bool or a category string, got {type(value).__name__}")


def parse_value(text: str) -> float | bool | str:
    """A value typed by a person (CLI, web form).

    ``1`` / ``0.8`` give a number, ``true`` / ``false`` a bool, anything else a category.
    """
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _NUMBER.fullmatch(stripped):
        return float(stripped)
    return stripped


def check_trace_id(value: Any) -> str:
    """A trace id as 32 lowercase hex digits (an ``int`` is formatted); ``ValueError`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**128:
        return format(value, "032x")
    if isinstance(value, str) and _TRACE_ID.fullmatch(value.strip().lower()):
        return value.strip().lower()
    raise ValueError(f"trace_id must be 32 hex digits (an OpenTelemetry trace id), got {value!r}")


def score_attributes(
    name: str,
    value: ScoreValue,
    target: ScoreTarget,
    *,
    comment: str | None,
    source: str,
    author: str | None,
) -> dict[str, Any]:
    """The ``threadline.score.*`` attributes of one score (on its span and on its event)."""
    attrs: dict[str, Any] = {
        sc.SCORE_NAME: name,
        sc.SCORE_VALUE: value.value,
        sc.SCORE_DATA_TYPE: value.data_type,
        sc.SCORE_SOURCE: source,
        sc.SCORE_TARGET_KIND: target.kind,
        sc.SCORE_TARGET_ID: target.id,
    }
    if comment is not None:
        attrs[sc.SCORE_COMMENT] = comment
    if author is not None:
        attrs[sc.SCORE_AUTHOR] = author
    return attrs
