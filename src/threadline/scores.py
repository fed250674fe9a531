"""``threadline.score()``: a number, a verdict or a thumbs up/down on a trace or a session.

>>> @threadline.observe()
... def handle_turn(question):
...     answer = graph.invoke(...)
...     threadline.score("helpful", 1)                    # the current trace
>>> with threadline.session("chat-42"):
...     threadline.score("resolved", True)                # the current session
>>> threadline.score("verdict", "good", trace_id="4bf92f3577b34da6a3ce929d0e0e4736", comment="clear")

A score travels like any span, so every exporter keeps it: one small span
named ``threadline.score`` whose ``threadline.score.*`` attributes say what was
scored (name, value, data type, comment, source, author, target kind and id),
and a span event of the same name with the same attributes (README, "Scores").
Scoring the current trace makes the span a child in that trace; otherwise it
is a root span, linked to the scored trace when there is one. The SQLite
store routes these spans to its ``scores`` table.

The validation here (:func:`check_name`, :func:`score_value`,
:func:`parse_value`) is shared by the API, the store, the CLI and the web view.
"""

from __future__ import annotations

import math
import numbers
import re
import time
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Link, SpanContext, TraceFlags

from threadline import semconv as sc
from threadline.guard import guard

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
    "score",
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


def score(
    name: str,
    value: float | bool | str,
    *,
    trace_id: str | int | None = None,
    session_id: Any = None,
    comment: str | None = None,
    source: str = "code",
    author: str | None = None,
) -> ScoreTarget:
    """Score a trace or a session: a number, a bool (thumbs up/down) or a category string.

    Args:
        name: what is scored (``"helpful"``, ``"verdict"``): printable text,
            at most 200 characters.
        value: a finite number, a bool, or a category string.
        trace_id: the trace to score (32 hex digits, as the CLI and web view
            show it).
        session_id: the session to score (the id given to
            :func:`threadline.session`, mapped by ``session_id_from`` likewise).
        comment: free text kept with the score.
        source: where the score comes from (``"code"``, ``"eval"``, ...).
        author: who gave it.

    With neither id, the current trace is scored when called inside a traced
    call (any threadline span), else the current :func:`threadline.session`
    scope; outside both it raises ``ValueError``. Bad input raises
    ``TypeError`` / ``ValueError`` before anything is recorded. Returns what
    was scored.
    """
    from threadline import _runtime
    from threadline.emitter import session_attributes
    from threadline.sessions import current_session, validate_id

    checked_name = check_name(name)
    checked_value = score_value(value)
    checked_comment = check_comment(comment)
    checked_source = check_text(source, "source")
    checked_author = check_optional(author, "author")
    if trace_id is not None and session_id is not None:
        raise ValueError("score() takes a trace_id or a session_id, not both")

    parent_ctx: Any = otel_context.Context()  # a root span unless the current trace is scored
    links: list[Link] | None = None
    session_info = None
    if trace_id is not None:
        target = ScoreTarget(sc.TARGET_TRACE, check_trace_id(trace_id))
        # The trace is known by id only: a link with a zero span id is kept by the SDK (and the spec)
        # because it carries attributes.
        linked = SpanContext(int(target.id, 16), 0, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        links = [Link(linked, {sc.SCORE_TARGET_KIND: sc.TARGET_TRACE})]
    elif session_id is not None:
        checked = validate_id(_runtime.settings().map_session_id(session_id))
        if checked is None:
            raise ValueError(f"score() needs a non-empty session_id, got {session_id!r}")
        target = ScoreTarget(sc.TARGET_SESSION, checked[0])
    else:
        configured = _runtime.state.emitter  # with none yet, no threadline span can be open
        handle = configured.current_handle() if configured is not None else None
        scope = current_session()
        if handle is not None:
            target = ScoreTarget(sc.TARGET_TRACE, format(handle.span_context.trace_id, "032x"))
            parent_ctx = handle.context
            session_info = handle.trace.session
        elif scope is not None:
            target = ScoreTarget(sc.TARGET_SESSION, scope.session_id)
            session_info = scope
        else:
            raise ValueError(
                "score() outside a traced call and outside threadline.session(...): pass trace_id=... or session_id=..."
            )

    attrs = score_attributes(
        checked_name, checked_value, target, comment=checked_comment, source=checked_source, author=checked_author
    )
    emitter = _runtime.emitter()  # after every check: a refused score sets nothing up
    with guard("score"):
        span_attrs: dict[str, Any] = {sc.OI_SPAN_KIND: sc.OI_KIND_EVALUATOR, **attrs}
        if session_info is not None:
            span_attrs.update(session_attributes(session_info))
        elif target.kind == sc.TARGET_SESSION:
            span_attrs[sc.SESSION_ID] = target.id
        now = time.time_ns()
        span = emitter.tracer.start_span(
            sc.SCORE_SPAN_NAME,
            context=parent_ctx,
            kind=otel_trace.SpanKind.INTERNAL,
            attributes=span_attrs,
            links=links,
            start_time=now,
        )
        span.add_event(sc.EVENT_SCORE, attrs, timestamp=now)
        span.end(end_time=now)
    return target
