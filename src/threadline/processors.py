"""Span processors threadline adds to its tracer provider."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import SpanProcessor

from threadline import semconv as sc
from threadline.attributes import session_attributes
from threadline.sessions import current_session


class SessionSpanProcessor(SpanProcessor):
    """Stamps the active explicit session, and the environment, on spans threadline did not build.

    Spans from the emitter (they start with a ``threadline.span.kind``) get
    both when they end; this covers the user's own spans
    (``tracer.start_as_current_span``) on threadline's tracer provider, inside
    a :func:`threadline.session` scope for the session.
    """

    def __init__(self, environment: str | None = None) -> None:
        self.environment = environment

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        attributes = span.attributes or {}
        if sc.SPAN_KIND in attributes:
            return
        environment = self.environment
        if environment is not None and sc.DEPLOYMENT_ENVIRONMENT not in attributes:
            span.set_attribute(sc.DEPLOYMENT_ENVIRONMENT, environment)
        info = current_session()
        if info is None or sc.SESSION_ID in attributes:
            return
        span.set_attributes(session_attributes(info))

    def on_end(self, span: Any) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
