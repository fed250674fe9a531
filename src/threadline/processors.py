"""Span processors threadline adds to its tracer provider."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import SpanProcessor

from threadline import semconv as sc
from threadline.attributes import session_attributes
from threadline.handles import STARTING
from threadline.sessions import current_session


class SessionSpanProcessor(SpanProcessor):
    """Stamps the active explicit session, and the environment, on spans threadline did not build.

    Spans from the emitter get both when they end; this covers the user's own spans
    (``tracer.start_as_current_span``) on threadline's tracer provider, inside
    a :func:`threadline.session` scope for the session.
    """

    def __init__(self, environment: str | None = None) -> None:
        self.environment = environment

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Stamp environment and session on a span the emitter is not starting itself."""
        if STARTING.active:
            return
        environment = self.environment
        info = current_session()
        if environment is None and info is None:
            return
        attributes = span.attributes or {}
        if environment is not None and sc.DEPLOYMENT_ENVIRONMENT not in attributes:
            span.set_attribute(sc.DEPLOYMENT_ENVIRONMENT, environment)
        if info is not None and sc.SESSION_ID not in attributes:
            span.set_attributes(session_attributes(info))

    def on_end(self, span: Any) -> None:
        """Nothing to do: a finished span is read-only."""
        return None

    def shutdown(self) -> None:
        """Nothing to release."""
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here: always flushed."""
        return True
