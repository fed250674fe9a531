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

The checks of a score's parts live in :mod:`threadline.score_values`, shared
with the store, the CLI and the web view.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Link, SpanContext, TraceFlags

from threadline import score_values
from threadline import semconv as sc
from threadline.guard import guard
from threadline.score_values import ScoreTarget

__all__ = ["ScoreTarget", "score"]  # the checks of a score's parts: threadline.score_values


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

    checked_name = score_values.check_name(name)
    checked_value = score_values.score_value(value)
    checked_comment = score_values.check_comment(comment)
    checked_source = score_values.check_text(source, "source")
    checked_author = score_values.check_optional(author, "author")
    if trace_id is not None and session_id is not None:
        raise ValueError("score() takes a trace_id or a session_id, not both")

    parent_ctx: Any = otel_context.Context()  # a root span unless the current trace is scored
    links: list[Link] | None = None
    session_info = None
    if trace_id is not None:
        target = ScoreTarget(sc.TARGET_TRACE, score_values.check_trace_id(trace_id))
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

    attrs = score_values.score_attributes(
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
