"""Open spans as integrations hold them, the trace they share, and "which run am I in".

A :class:`SpanHandle` is what :meth:`threadline.emitter.Emitter.start`
returns: the OpenTelemetry span, the integration's record, the attributes
waiting for the end of the span, and the :class:`TraceState` every span of
one trace shares (its session, whether it paused).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

from threadline import semconv as sc
from threadline.attributes import session_attributes
from threadline.records import SpanKind, SpanRecord
from threadline.sessions import SessionInfo

_HANDLE_KEY = otel_context.create_key("threadline-span-handle")


class _Starting(threading.local):
    """True on a thread while the emitter starts a span (span processors' ``on_start`` run then)."""

    active = False


STARTING = _Starting()


class TraceState:
    """What all spans of one trace share: its session and whether it paused.

    It holds no reference to its spans' handles: a handle refers to its trace,
    so a reference back would make every trace a reference cycle that only the
    garbage collector could free.
    """

    __slots__ = ("session", "interrupted", "has_root", "interrupt_text", "environment", "stamps", "stamps_of")

    def __init__(self, session: SessionInfo | None, environment: str | None = None) -> None:
        self.session = session
        self.interrupted = False
        self.has_root = False
        self.interrupt_text: str | None = None  # what the pause asks the human, for the root's output
        self.environment = environment
        # (every attribute, every attribute but the session id) of stamps_of, built by build_stamps().
        self.stamps: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.stamps_of: SessionInfo | None = None

    def build_stamps(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The attributes every span of this trace carries at its end (session, user, environment).

        Built once per session, not per span: the whole stamp, and the stamp
        without the session id for spans that started with it (samplers saw
        it there; OpenTelemetry would check it twice).
        """
        session = self.session
        full = session_attributes(session) if session is not None else {}
        if self.environment is not None:
            full[sc.DEPLOYMENT_ENVIRONMENT] = self.environment
        stamps = self.stamps = (full, {k: v for k, v in full.items() if k != sc.SESSION_ID})
        self.stamps_of = session
        return stamps

    def session_stamp(self) -> dict[str, Any]:
        """The whole stamp of :meth:`build_stamps` (cached)."""
        stamps = self.stamps if self.stamps_of is self.session else None
        return (stamps or self.build_stamps())[0]


class SpanHandle:
    """An open span and its record, as held by an integration until it ends.

    ``attributes`` are those decided at the start (rendered input included)
    that wait for the end: the span gets them with the end's in one call.
    """

    __slots__ = (
        "span",
        "record",
        "kind",
        "trace",
        "model_parent",
        "is_root",
        "start_ns",
        "first_token_ns",
        "usage_counted_in",
        "ended",
        "session_stamped",
        "attributes",
        "_context",
        "__weakref__",
    )

    def __init__(
        self,
        span: Any,
        record: SpanRecord,
        trace: TraceState,
        model_parent: SpanHandle | None,
        start_ns: int,
        attributes: dict[str, Any] | None = None,
        kind: SpanKind | None = None,
    ) -> None:
        self.span = span
        self.record = record
        self.kind = kind if kind is not None else record.kind  # read once: a property on most records
        self.trace = trace
        self.model_parent = model_parent
        self.start_ns = start_ns
        self.first_token_ns: int | None = None
        self.usage_counted_in: str | None = None
        self.ended = False
        self.session_stamped: SessionInfo | None = None  # the session the span started with (its id is on it)
        self.attributes: dict[str, Any] = attributes if attributes is not None else {}
        self.is_root = False  # this span started its trace (as far as threadline knows)
        self._context: Any = None

    @property
    def context(self) -> Any:
        """An OpenTelemetry ``Context`` with this span current (built on first use).

        The context refers to the handle weakly: a strong reference would be a
        cycle (handle → context → handle), and spans caught in cycles are freed
        only by the garbage collector, which then runs far more often.
        """
        ctx = self._context
        if ctx is None:
            ctx = self._context = otel_context.set_value(
                _HANDLE_KEY, weakref.ref(self), otel_trace.set_span_in_context(self.span)
            )
        return ctx

    @property
    def span_context(self) -> Any:
        """The OpenTelemetry ``SpanContext`` of this span (for links)."""
        return self.span.get_span_context()


ContextProvider = Callable[[], "SpanHandle | None"]

_context_providers: list[ContextProvider] = []


def register_context_provider(provider: ContextProvider) -> None:
    """Add a framework's "which run am I in" lookup (once; used by every emitter).

    A provider returns the :class:`SpanHandle` of the framework run enclosing
    the running code (e.g. the LangGraph node a function runs in), so that
    spans started there by other integrations nest under it.
    """
    if provider not in _context_providers:
        _context_providers.append(provider)


def unregister_context_provider(provider: ContextProvider) -> None:
    """Remove a provider added by :func:`register_context_provider`."""
    if provider in _context_providers:
        _context_providers.remove(provider)


def handle_in(ctx: Any) -> SpanHandle | None:
    """The open threadline handle carried by an OpenTelemetry context, if any."""
    ref = otel_context.get_value(_HANDLE_KEY, ctx)
    if ref is None:
        return None
    handle = ref()
    return handle if handle is not None and not handle.ended else None


def current_handle() -> SpanHandle | None:
    """The innermost open threadline span of the running code, if any.

    Looks at the current OpenTelemetry context and at every registered
    context provider (a framework's own notion of "the run I am in", e.g.
    LangChain's child runnable config); of the candidates, all of which are
    ancestors of the running code, the one that started last is innermost.
    """
    best = handle_in(otel_context.get_current())
    for provider in _context_providers:
        try:
            candidate = provider()
        except Exception:  # noqa: BLE001 - a provider must never break a span
            candidate = None
        if candidate is not None and not candidate.ended and (best is None or candidate.start_ns > best.start_ns):
            best = candidate
    return best
