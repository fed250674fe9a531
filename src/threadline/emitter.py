"""The only place where records become OpenTelemetry spans.

Integrations call :meth:`Emitter.start` with a record and get a
:class:`SpanHandle`; they update the record as the run goes and call
:meth:`Emitter.end`. The emitter owns span names, attributes, the session of
each trace, content capture, usage, cost and the "counted once" rule.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Link, Status, StatusCode

from threadline import semconv as sc
from threadline.content import ContentPolicy, render
from threadline.cost import Prices
from threadline.records import (
    GraphPause,
    GraphResume,
    ModelCall,
    Outcome,
    Retrieval,
    Run,
    SpanKind,
    SpanRecord,
    ToolCall,
)
from threadline.sessions import SessionInfo, current_session, resolve_framework_session, session_from_baggage

_HANDLE_KEY = otel_context.create_key("threadline-span-handle")
_CLIENT_KINDS = (SpanKind.MODEL, SpanKind.EMBEDDING, SpanKind.REQUEST)
_MODEL_KINDS = (SpanKind.MODEL, SpanKind.EMBEDDING)


class TraceState:
    """What all spans of one trace share: its session and whether it paused.

    It holds no reference to its spans' handles: a handle refers to its trace,
    so a reference back would make every trace a reference cycle that only the
    garbage collector could free.
    """

    __slots__ = ("session", "interrupted", "has_root", "interrupt_text", "_stamp", "_stamp_of")

    def __init__(self, session: SessionInfo | None) -> None:
        self.session = session
        self.interrupted = False
        self.has_root = False
        self.interrupt_text: str | None = None  # what the pause asks the human, for the root's output
        self._stamp: dict[str, Any] | None = None
        self._stamp_of: SessionInfo | None = None

    def session_stamp(self) -> dict[str, Any]:
        """The session attributes of every span of this trace, built once per session (not per span)."""
        session = self.session
        if self._stamp is None or self._stamp_of is not session:
            self._stamp = session_attributes(session) if session is not None else {}
            self._stamp_of = session
        return self._stamp


class SpanHandle:
    """An open span and its record, as held by an integration until it ends."""

    __slots__ = (
        "span",
        "record",
        "trace",
        "model_parent",
        "is_root",
        "start_ns",
        "first_token_ns",
        "usage_counted_in",
        "ended",
        "session_stamped",
        "_context",
        "__weakref__",
    )

    def __init__(
        self, span: Any, record: SpanRecord, trace: TraceState, model_parent: SpanHandle | None, start_ns: int
    ) -> None:
        self.span = span
        self.record = record
        self.trace = trace
        self.model_parent = model_parent
        self.start_ns = start_ns
        self.first_token_ns: int | None = None
        self.usage_counted_in: str | None = None
        self.ended = False
        self.session_stamped: SessionInfo | None = None
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

    # -- parents ------------------------------------------------------------------
    def current_handle(self) -> SpanHandle | None:
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
            parent = self.current_handle()
        if parent is not None:
            parent_ctx = parent.context
            trace = parent.trace
        else:
            if parent_context is not None:
                parent_ctx = parent_context
            else:
                parent_ctx = otel_context.get_current() if use_current else otel_context.Context()
            trace = TraceState(None)

        kind = record.kind
        if trace.session is None:
            trace.session = self._resolve_session(record)

        attrs = self._start_attributes(record, kind)
        if trace.session is not None:
            attrs.update(trace.session_stamp())
        if not trace.has_root:
            attrs[sc.TRACE_ROOT] = True
        if self.environment is not None:
            attrs[sc.DEPLOYMENT_ENVIRONMENT] = self.environment

        links = None
        resume = getattr(record, "resume", None)
        if isinstance(resume, GraphResume):
            _resume_attributes(resume, attrs, self.content)
            if resume.linked_trace is not None:
                links = [Link(resume.linked_trace, {sc.RESUME: True})]

        now = start_ns if start_ns is not None else time.time_ns()
        span = self.tracer.start_span(
            _span_name(record),
            context=parent_ctx,
            kind=otel_trace.SpanKind.CLIENT if kind in _CLIENT_KINDS else otel_trace.SpanKind.INTERNAL,
            attributes=attrs,
            links=links,
            start_time=now,
        )
        model_parent = None
        if parent is not None:
            model_parent = parent if parent.record.kind in _MODEL_KINDS else parent.model_parent
        handle = SpanHandle(span, record, trace, model_parent, now)
        handle.session_stamped = trace.session
        if not trace.has_root:
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
        handle.record.outcome = Outcome.INTERRUPTED
        handle.trace.interrupted = True
        span = handle.span
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
        span.add_event(sc.EVENT_INTERRUPT, attrs)
        span.set_attributes(attrs)

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
        if error is not None:
            record.error = error
            if outcome is None:
                outcome = Outcome.ERROR
        if outcome is not None:
            record.outcome = outcome
        if record.outcome is Outcome.OK and handle.trace.interrupted and handle.is_root:
            record.outcome = Outcome.INTERRUPTED
        if record.outcome is Outcome.INTERRUPTED:
            handle.trace.interrupted = True

        span = handle.span
        attrs: dict[str, Any] = {sc.OUTCOME: record.outcome.value}
        trace_session = handle.trace.session
        if trace_session is not None and trace_session is not handle.session_stamped:
            attrs.update(handle.trace.session_stamp())
        if record.outcome is Outcome.INTERRUPTED and handle.is_root and handle.trace.interrupt_text is not None:
            # An interrupted turn has answered nothing yet: what it asks the human is its output.
            attrs[sc.OI_OUTPUT_VALUE] = handle.trace.interrupt_text
            attrs[sc.INTERRUPTED_OUTPUT] = True
        elif record.outputs is not None:
            text, cut = self.content.text(record.outputs)
            if text is not None:
                attrs[sc.OI_OUTPUT_VALUE] = text
                if cut:
                    attrs[sc.TRUNCATED] = True
        if isinstance(record, ModelCall):
            self._model_end_attributes(handle, record, attrs)
        if handle.first_token_ns is not None:
            attrs[sc.TIME_TO_FIRST_TOKEN] = (handle.first_token_ns - handle.start_ns) / 1e6
        if record.attributes:
            attrs.update(record.attributes)
        span.set_attributes(attrs)

        if record.outcome is Outcome.ERROR:
            err = record.error
            if err is not None:
                _error_attributes(span, err, self.content)
            else:
                span.set_status(Status(StatusCode.ERROR))
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

    def _start_attributes(self, record: SpanRecord, kind: SpanKind) -> dict[str, Any]:
        attrs: dict[str, Any] = {sc.SPAN_KIND: kind.value, sc.INTEGRATION: record.integration}
        if record.run_id is not None:
            attrs[sc.RUN_ID] = record.run_id
        if record.tags:
            attrs[sc.TAG_VALUES] = [str(t) for t in record.tags]
        if record.inputs is not None:
            text, cut = self.content.text(record.inputs)
            if text is not None:
                attrs[sc.OI_INPUT_VALUE] = text
                if cut:
                    attrs[sc.TRUNCATED] = True
        if isinstance(record, ModelCall):
            attrs[sc.GEN_AI_OPERATION_NAME] = record.operation
            if record.provider:
                attrs[sc.GEN_AI_PROVIDER_NAME] = record.provider
            if record.request_model:
                attrs[sc.GEN_AI_REQUEST_MODEL] = record.request_model
            if record.temperature is not None:
                attrs[sc.GEN_AI_REQUEST_TEMPERATURE] = record.temperature
            if record.max_tokens is not None:
                attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = record.max_tokens
            if record.server_address:
                attrs[sc.SERVER_ADDRESS] = record.server_address
            if record.tools:
                text, _ = self.content.text(record.tools)
                if text is not None:
                    attrs[sc.GEN_AI_TOOL_DEFINITIONS] = text
            if record.invocation_parameters:
                attrs[sc.OI_LLM_INVOCATION_PARAMETERS] = render(record.invocation_parameters)
        elif isinstance(record, ToolCall):
            attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_EXECUTE_TOOL
            attrs[sc.GEN_AI_TOOL_NAME] = record.tool_name or record.name
            if record.call_id:
                attrs[sc.GEN_AI_TOOL_CALL_ID] = record.call_id
            if record.description:
                attrs[sc.GEN_AI_TOOL_DESCRIPTION] = record.description
        elif isinstance(record, Retrieval):
            attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_RETRIEVAL
            if record.data_source:
                attrs[sc.GEN_AI_DATA_SOURCE_ID] = record.data_source
        elif isinstance(record, Run):
            if kind is SpanKind.AGENT:
                attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_INVOKE_AGENT
                attrs[sc.GEN_AI_AGENT_NAME] = record.name
            if record.node is not None:
                attrs[sc.GRAPH_NODE] = record.node
            if record.step is not None:
                attrs[sc.GRAPH_STEP] = record.step
            if record.checkpoint_ns:
                attrs[sc.GRAPH_CHECKPOINT_NS] = record.checkpoint_ns
            if record.checkpoint_id:
                attrs[sc.GRAPH_CHECKPOINT_ID] = record.checkpoint_id
            if record.triggers:
                attrs[sc.GRAPH_TRIGGERS] = [str(t) for t in record.triggers]
            if record.turn_id:
                attrs[sc.TURN_ID] = record.turn_id
        return attrs

    def _model_end_attributes(self, handle: SpanHandle, record: ModelCall, attrs: dict[str, Any]) -> None:
        if record.response_model:
            attrs[sc.GEN_AI_RESPONSE_MODEL] = record.response_model
        if record.streamed:  # known at the end too: some frameworks say so only when a chunk arrives
            attrs[sc.GEN_AI_REQUEST_STREAM] = True
        if record.response_id:
            attrs[sc.GEN_AI_RESPONSE_ID] = record.response_id
        if record.finish_reasons:
            attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [str(r) for r in record.finish_reasons]
        if record.stream_end_reason:
            attrs[sc.END_REASON] = record.stream_end_reason
        if record.retries:
            attrs[sc.RETRIES] = record.retries
        usage = record.usage
        if usage is None or usage.is_empty:
            return
        if handle.usage_counted_in is not None:
            # A nested model call (e.g. the OpenAI SDK under LangChain) already
            # carries this usage: counting it here too would double the totals.
            attrs[sc.USAGE_COUNTED_IN] = handle.usage_counted_in
            return
        if handle.model_parent is not None and not handle.model_parent.ended:
            handle.model_parent.usage_counted_in = format(handle.span_context.span_id, "016x")
            # An outer model span of the same call defers to this one, and so
            # does every model span further out.
            outer = handle.model_parent.model_parent
            while outer is not None and not outer.ended:
                outer.usage_counted_in = handle.model_parent.usage_counted_in
                outer = outer.model_parent
        _usage_attributes(usage, attrs)
        cost = self.prices.cost(record.provider, record.response_model or record.request_model, usage)
        if cost is not None:
            attrs[sc.GEN_AI_USAGE_COST] = cost.total
            attrs[sc.COST_INPUT] = cost.input
            attrs[sc.COST_OUTPUT] = cost.output


def _span_name(record: SpanRecord) -> str:
    if isinstance(record, ModelCall):
        model = record.request_model or record.response_model
        return f"{record.operation} {model}" if model else record.name or record.operation
    if isinstance(record, ToolCall):
        return f"execute_tool {record.tool_name or record.name}"
    return record.name


def _usage_attributes(usage: Any, attrs: dict[str, Any]) -> None:
    if usage.input_tokens is not None:
        attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
    if usage.output_tokens is not None:
        attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
    if usage.cache_read_tokens is not None:
        attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read_tokens
    if usage.cache_write_tokens is not None:
        attrs[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cache_write_tokens
        if usage.cache_write_1h_tokens:
            attrs[sc.USAGE_CACHE_CREATION_1H] = usage.cache_write_1h_tokens
    if usage.reasoning_tokens is not None:
        attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_tokens
    total = usage.total
    if total is not None:
        attrs[sc.GEN_AI_USAGE_TOTAL_TOKENS] = total


def _error_attributes(span: Any, err: BaseException, content: ContentPolicy) -> None:
    """Status, ``error.type`` and the ``exception`` event of a span that raised ``err``.

    Not ``span.record_exception``: its message and stack trace would bypass
    the content switch, the redaction hook and secret masking.
    """
    cls = type(err)
    module = cls.__module__
    message, stack = content.error_text(err)
    event = {
        sc.EXCEPTION_TYPE: cls.__qualname__ if module in (None, "builtins") else f"{module}.{cls.__qualname__}",
        sc.EXCEPTION_MESSAGE: message,
    }
    if stack is not None:
        event[sc.EXCEPTION_STACKTRACE] = stack
    span.add_event(sc.EVENT_EXCEPTION, event)
    span.set_attribute(sc.ERROR_TYPE, cls.__qualname__)
    span.set_status(Status(StatusCode.ERROR, f"{cls.__name__}: {message}"[:500]))


def _session_attributes(info: SessionInfo, attrs: dict[str, Any]) -> None:
    attrs[sc.SESSION_ID] = info.session_id
    attrs[sc.SESSION_SOURCE] = info.source
    if info.original_id is not None:
        attrs[sc.SESSION_ID_ORIGINAL] = info.original_id
    if info.user_id is not None:
        attrs[sc.USER_ID] = info.user_id
    if info.tags:
        attrs[sc.TAGS] = list(info.tags)
    for key, value in info.metadata.items():
        attrs[sc.METADATA_PREFIX + str(key)] = value if isinstance(value, (str, bool, int, float)) else str(value)


def _resume_attributes(resume: GraphResume, attrs: dict[str, Any], content: ContentPolicy) -> None:
    attrs[sc.RESUME] = True
    if resume.interrupt_ids:
        attrs[sc.RESUME_INTERRUPT_IDS] = [str(i) for i in resume.interrupt_ids]
    if resume.checkpoint_id:
        attrs[sc.RESUME_CHECKPOINT_ID] = resume.checkpoint_id
    if resume.linked_trace is not None:
        attrs[sc.RESUME_TRACE_ID] = format(resume.linked_trace.trace_id, "032x")
    text, _ = content.text(resume.value)
    if text is not None:
        attrs[sc.RESUME_VALUE] = text
        # What the resumed turn was given is the human's answer (a Command or None is no input).
        attrs[sc.OI_INPUT_VALUE] = text


def session_attributes(info: SessionInfo) -> dict[str, Any]:
    """The attributes that stamp a span with ``info`` (used by the span processor)."""
    attrs: dict[str, Any] = {}
    _session_attributes(info, attrs)
    return attrs
