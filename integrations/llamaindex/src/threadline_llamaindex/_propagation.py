"""Trace context across processes through the dispatcher's propagation context (W3C trace context).

``capture`` names the span enclosing the caller (and its session) under our
``"threadline"`` key; ``restore`` makes it the parent of the next root span
started in the receiving context.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from threadline.emitter import Emitter

PROPAGATION_KEY = "threadline"  # our namespace in the dispatcher's propagation context

_propagator = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class Restored:
    """A parent received through the dispatcher's propagation context."""

    carrier: Mapping[str, str]
    context: Any  # an OpenTelemetry Context holding the remote span
    span_id: int
    hints: Mapping[str, Any] | None


restored: contextvars.ContextVar[Restored | None] = contextvars.ContextVar(
    "threadline_llamaindex_restored", default=None
)


def capture(emitter: Emitter) -> dict[str, Any]:
    """W3C trace context (and the session) of the span enclosing the caller."""
    handle = emitter.current_handle()
    if handle is None:
        parent = restored.get()
        if parent is not None:
            return {PROPAGATION_KEY: dict(parent.carrier)}
        ctx = otel_context.get_current()
        if not otel_trace.get_current_span(ctx).get_span_context().is_valid:
            return {}
        session = None
    else:
        ctx = handle.context
        session = handle.trace.session
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=ctx)
    if not carrier:
        return {}
    if session is not None:
        carrier["session_id"] = session.session_id
        carrier["session_source"] = session.source
        if session.user_id:
            carrier["user_id"] = session.user_id
    return {PROPAGATION_KEY: carrier}


def restore(context: Mapping[str, Any]) -> None:
    """Make the captured span the parent of the next root span in this context."""
    carrier = context.get(PROPAGATION_KEY) if isinstance(context, Mapping) else None
    if not isinstance(carrier, Mapping):
        return
    clean = {str(k): v for k, v in carrier.items() if isinstance(v, str)}
    ctx = _propagator.extract(clean)
    span_context = otel_trace.get_current_span(ctx).get_span_context()
    if not span_context.is_valid:
        return
    hints: dict[str, str] | None = None
    if clean.get("session_id"):
        # Under the key it was found by (an explicit scope reads as "session_id").
        source = clean.get("session_source") or "session_id"
        hints = {("session_id" if source == "explicit" else source): clean["session_id"]}
        if clean.get("user_id"):
            hints["user_id"] = clean["user_id"]
    restored.set(Restored(clean, ctx, span_context.span_id, hints))
