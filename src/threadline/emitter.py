"""The only place where records become OpenTelemetry spans.

Integrations call :meth:`Emitter.start` with a record and get a
:class:`SpanHandle`; they update the record as the run goes and call
:meth:`Emitter.end`. The emitter owns when a span starts and ends, its parent,
the session of each trace, the "counted once" rule for usage, and cost; what
a record says as attributes is :mod:`threadline.attributes`.

Attributes are decided when they are known (an input is rendered at the
start) and reach the span in one ``set_attributes`` call when it ends: the
OpenTelemetry SDK copies and checks a span's attributes in one pass. A span
starts with none, or with the few a sampler may look at (its kind, the
session id when known) when the tracer's sampler is not one of the SDK's
constant ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import sampling
from opentelemetry.trace import Link, Status, StatusCode

from threadline import semconv as sc
from threadline.attributes import (
    error_event,
    model_end_attributes,
    session_attributes,
    span_name,
    start_attributes,
    usage_attributes,
)
from threadline.content import ContentPolicy
from threadline.cost import Prices
from threadline.handles import (
    STARTING,
    ContextProvider,
    SpanHandle,
    TraceState,
    current_handle,
    handle_in,
    register_context_provider,
    unregister_context_provider,
)
from threadline.records import GraphPause, ModelCall, Outcome, Run, SpanKind, SpanRecord
from threadline.sessions import SessionInfo, current_session, resolve_framework_session, session_from_baggage

# Re-exported: integrations and tests import these from here.
__all__ = [
    "ContextProvider",
    "Emitter",
    "SpanHandle",
    "TraceState",
    "handle_in",
    "register_context_provider",
    "session_attributes",
    "unregister_context_provider",
]

_CLIENT = otel_trace.SpanKind.CLIENT
_INTERNAL = otel_trace.SpanKind.INTERNAL
_CLIENT_KINDS = frozenset((SpanKind.MODEL, SpanKind.EMBEDDING, SpanKind.REQUEST))
_MODEL_KINDS = frozenset((SpanKind.MODEL, SpanKind.EMBEDDING))
_OK = Outcome.OK
_ERROR = Outcome.ERROR
_INTERRUPTED = Outcome.INTERRUPTED
# An enum's .value is a Python-level descriptor call; a dict lookup is not.
_VALUE: dict[Any, str] = {**{k: k.value for k in SpanKind}, **{o: o.value for o in Outcome}}
# Samplers that decide without looking at attributes: spans need none at their start for them.
_BLIND_SAMPLERS = (sampling.DEFAULT_ON, sampling.DEFAULT_OFF, sampling.ALWAYS_ON, sampling.ALWAYS_OFF)


def _sampler_reads_attributes(tracer: Any) -> bool:
    sampler = getattr(tracer, "sampler", None)
    return sampler is not None and not any(sampler is blind for blind in _BLIND_SAMPLERS)


class Emitter:
    """Turns records into spans on one tracer, with one settings object."""

    def __init__(
        self,
        tracer: Any,
        *,
        content: ContentPolicy,
        prices: Prices,
        session_keys: Sequence[str],
        user_keys: Sequence[str],
        session_mapper: Callable[[str], str] | None = None,
        environment: str | None = None,
        propagate_session: bool = False,
    ) -> None:
        self.tracer = tracer
        self.content = content
        self.prices = prices
        self.session_keys = tuple(session_keys)
        self.user_keys = tuple(user_keys)
        self.session_mapper = session_mapper
        self.environment = environment
        self.propagate_session = propagate_session
        self._sampler_attributes = _sampler_reads_attributes(tracer)

    # The innermost open threadline span of the running code: :func:`threadline.handles.current_handle`.
    current_handle = staticmethod(current_handle)

    # -- lifecycle ----------------------------------------------------------------
    def start(
        self,
        record: SpanRecord,
        *,
        parent: SpanHandle | None = None,
        use_current: bool = True,
        start_ns: int | None = None,
        parent_context: Any = None,
    ) -> SpanHandle:
        """Open a span for ``record``.

        ``parent`` is the enclosing run when the integration knows it (from a
        run-id map). Otherwise, with ``use_current``, the innermost open span of
        the running code is the parent (see :meth:`current_handle`), falling
        back to whatever OpenTelemetry span is current (a web request span).
        ``parent_context`` is an OpenTelemetry ``Context`` used instead of the
        current one when no threadline parent is found (e.g. a remote parent
        restored from another process).
        """
        if parent is not None and parent.ended:
            parent = None
        if parent is None and use_current:
            parent = current_handle()
        if parent is not None:
            parent_ctx = parent.context
            trace = parent.trace
        else:
            if parent_context is not None:
                parent_ctx = parent_context
            else:
                parent_ctx = otel_context.get_current() if use_current else otel_context.Context()
            trace = TraceState(None, self.environment)

        is_run = type(record) is Run  # most spans: read its fields, not the properties other records need
        kind = record.run_kind if is_run else record.kind  # type: ignore[attr-defined]
        session = trace.session
        if session is None:
            session = trace.session = self._resolve_session(record)
        attrs = start_attributes(record, kind, self.content)
        is_root = not trace.has_root
        if is_root:
            attrs[sc.TRACE_ROOT] = True
        first = None  # what the span starts with: the rest waits for its end (one set_attributes)
        if self._sampler_attributes:
            first = {sc.SPAN_KIND: _VALUE[kind]}
            if session is not None:
                first[sc.SESSION_ID] = session.session_id

        links = None
        resume = getattr(record, "resume", None)
        if resume is not None and resume.linked_trace is not None:
            links = [Link(resume.linked_trace, {sc.RESUME: True})]

        now = start_ns if start_ns is not None else time.time_ns()
        outer, STARTING.active = STARTING.active, True  # threadline's span processor leaves the span to us
        try:
            span = self.tracer.start_span(
                record.name if is_run else span_name(record),
                context=parent_ctx,
                kind=_CLIENT if kind in _CLIENT_KINDS else _INTERNAL,
                attributes=first,
                links=links,
                start_time=now,
            )
        finally:
            STARTING.active = outer
        model_parent = None
        if parent is not None:
            model_parent = parent if parent.kind in _MODEL_KINDS else parent.model_parent
        handle = SpanHandle(span, record, trace, model_parent, now, attrs, kind)
        if first is not None:
            handle.session_stamped = session  # its id is on the span already
        if is_root:
            trace.has_root = handle.is_root = True
        return handle

    def first_token(self, handle: SpanHandle, at_ns: int | None = None) -> None:
        """Note the first streamed token (time to first token)."""
        if handle.first_token_ns is None:
            handle.first_token_ns = at_ns if at_ns is not None else time.time_ns()

    def bind_session(
        self, handle: SpanHandle, hints: Mapping[str, Any], *, user_hint: Any = None
    ) -> SessionInfo | None:
        """Late-bind a session to the trace of ``handle`` when it has none yet.

        For ids a provider only returns at the end of a call (e.g. the id of a
        Responses API response that starts a ``previous_response_id`` chain).
        ``hints`` are resolved like :attr:`SpanRecord.session_hints`; spans of
        the trace that end afterwards are stamped with the session. Returns the
        trace's session (the one it already had, if any).
        """
        trace = handle.trace
        if trace.session is None and not handle.ended:
            trace.session = resolve_framework_session(
                hints, keys=self.session_keys, mapper=self.session_mapper, user_hint=user_hint
            )
        return trace.session

    def pause(self, handle: SpanHandle, pause: GraphPause) -> None:
        """Record a human-in-the-loop pause on ``handle``; it and its trace end interrupted."""
        handle.record.outcome = _INTERRUPTED
        handle.trace.interrupted = True
        ids = [i.id for i in pause.interrupts if i.id]
        values = [i.value for i in pause.interrupts]
        attrs: dict[str, Any] = {sc.INTERRUPT_IDS: ids}
        kept = self.content.redacted(values)
        if kept is not None:
            text = attrs[sc.INTERRUPT_VALUES] = self.content.rendered(kept)[0]
            # The root's output: what the human is asked (one payload as itself, several as the list).
            one = isinstance(kept, list) and len(kept) == 1
            handle.trace.interrupt_text = self.content.rendered(kept[0])[0] if one else text
        if pause.checkpoint_id:
            attrs[sc.GRAPH_CHECKPOINT_ID] = pause.checkpoint_id
        if pause.checkpoint_ns:
            attrs[sc.GRAPH_CHECKPOINT_NS] = pause.checkpoint_ns
        handle.span.add_event(sc.EVENT_INTERRUPT, attrs)
        handle.attributes.update(attrs)

    def end(
        self,
        handle: SpanHandle,
        *,
        outcome: Outcome | None = None,
        error: BaseException | None = None,
        end_ns: int | None = None,
    ) -> None:
        """Close the span of ``handle`` with the record's final state.

        ``error`` marks the span as an error unless ``outcome`` says otherwise
        (an interrupt or a cancellation is not an error).
        """
        if handle.ended:
            return
        handle.ended = True
        record = handle.record
        trace = handle.trace
        if error is not None:
            record.error = error
            if outcome is None:
                outcome = _ERROR
        if outcome is not None:
            record.outcome = outcome
        final = record.outcome
        if final is _OK and trace.interrupted and handle.is_root:
            final = record.outcome = _INTERRUPTED
        if final is _INTERRUPTED:
            trace.interrupted = True

        attrs = handle.attributes
        session = trace.session
        stamps = trace.stamps if trace.stamps_of is session else None
        if stamps is None:
            stamps = trace.build_stamps()
        # A span that started with the session's id carries it already (the stamp without it).
        attrs.update(stamps[1] if session is not None and handle.session_stamped is session else stamps[0])
        attrs[sc.OUTCOME] = _VALUE[final]
        if final is _INTERRUPTED and handle.is_root and trace.interrupt_text is not None:
            # An interrupted turn has answered nothing yet: what it asks the human is its output.
            attrs[sc.OI_OUTPUT_VALUE] = trace.interrupt_text
            attrs[sc.INTERRUPTED_OUTPUT] = True
        elif record.outputs is not None:
            text, cut = self.content.text(record.outputs)
            if text is not None:
                attrs[sc.OI_OUTPUT_VALUE] = text
                if cut:
                    attrs[sc.TRUNCATED] = True
        if isinstance(record, ModelCall):
            model_end_attributes(record, attrs)
            self._usage_and_cost(handle, record, attrs)
        if handle.first_token_ns is not None:
            attrs[sc.TIME_TO_FIRST_TOKEN] = (handle.first_token_ns - handle.start_ns) / 1e6
        if record.attributes:
            attrs.update(record.attributes)

        span = handle.span
        status = None
        if final is _ERROR:
            err = record.error
            if err is not None:
                attrs[sc.ERROR_TYPE], event, message = error_event(err, self.content)
                span.add_event(sc.EVENT_EXCEPTION, event)
                status = Status(StatusCode.ERROR, message)
            else:
                status = Status(StatusCode.ERROR)
        span.set_attributes(attrs)
        if status is not None:
            span.set_status(status)
        span.end(end_time=end_ns)

    # -- helpers ------------------------------------------------------------------
    def _resolve_session(self, record: SpanRecord) -> SessionInfo | None:
        explicit = current_session()
        if explicit is not None:
            return explicit
        hints = record.session_hints
        if not hints:
            return session_from_baggage(self.session_mapper) if self.propagate_session else None
        user_hint = record.user_hint
        if user_hint is None:
            for key in self.user_keys:
                user_hint = hints.get(key)
                if user_hint is not None:
                    break
        found = resolve_framework_session(
            hints, keys=self.session_keys, mapper=self.session_mapper, user_hint=user_hint
        )
        if found is None and self.propagate_session:
            return session_from_baggage(self.session_mapper)
        return found

    def _usage_and_cost(self, handle: SpanHandle, record: ModelCall, attrs: dict[str, Any]) -> None:
        """Usage and cost on exactly one span of a model call ("counted once")."""
        usage = record.usage
        if usage is None or usage.is_empty:
            return
        if handle.usage_counted_in is not None:
            # A nested model call (e.g. the OpenAI SDK under LangChain) already
            # carries this usage: counting it here too would double the totals.
            attrs[sc.USAGE_COUNTED_IN] = handle.usage_counted_in
            return
        model_parent = handle.model_parent
        if model_parent is not None and not model_parent.ended:
            counted_in = model_parent.usage_counted_in = format(handle.span_context.span_id, "016x")
            # An outer model span of the same call defers to this one, and so
            # does every model span further out.
            outer = model_parent.model_parent
            while outer is not None and not outer.ended:
                outer.usage_counted_in = counted_in
                outer = outer.model_parent
        usage_attributes(usage, attrs)
        cost = self.prices.cost(record.provider, record.response_model or record.request_model, usage)
        if cost is not None:
            attrs[sc.GEN_AI_USAGE_COST] = cost.total
            attrs[sc.COST_INPUT] = cost.input
            attrs[sc.COST_OUTPUT] = cost.output
