"""Turns LlamaIndex dispatcher spans and events into threadline records.

The dispatcher gives every span an id and its parent's id (from its
``active_span_id`` context variable). The tracker keeps a locked map of open
dispatcher span id -> entry; an entry either owns a threadline span or is
folded into its nearest kept ancestor (see :mod:`._classify`). Parents come
from that map, never from ``context.attach()``: handler calls are not
guaranteed to pair.

Streams: the dispatcher exits an LLM span as soon as the generator is
returned, while the response (and its usage) arrives later in
``LLMChatEndEvent`` / ``LLMCompletionEndEvent`` (or ``ExceptionEvent``). Such a
span stays open until then; a weak-reference finalizer on the generator and a
bound on pending streams end abandoned ones. While a stream is consumed,
:meth:`Tracker.current_handle` finds the LlamaIndex span of the generator that
is running (by its frame), so a provider call made lazily inside it (the
OpenAI SDK span) nests under it in the same trace.
"""

from __future__ import annotations

import contextvars
import inspect
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from threadline import semconv as sc
from threadline.emitter import Emitter, SpanHandle
from threadline.guard import guard
from threadline.integration import current_emitter
from threadline.records import ModelCall, Outcome, Retrieval, Run, SpanKind, SpanRecord, ToolCall
from threadline_llamaindex import _extract as ex
from threadline_llamaindex._classify import (
    CHAT_METHODS,
    INTERNAL_FUNCTIONS,
    KEPT_METHODS,
    Category,
    categorize,
    span_name,
)

INTEGRATION = "llamaindex"
PROPAGATION_KEY = "threadline"  # our namespace in the dispatcher's propagation context
RUN_ID_TAG = "llamaindex.run_id"  # workflows: a new id per run -> the turn id, never the session
STEP_SUMMARY_TAG = "llamaindex.step.input_summary"
START_EVENT_TAG = "llamaindex.start_event"
MEMORY_SESSION_KEY = "session_id"  # the session hint key a chat memory's id is reported under
MAX_PENDING = 1000  # streams returned but not finished; beyond this the oldest is ended as abandoned
_FRAME_DEPTH = 256

_propagator = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class _Restored:
    """A parent received through the dispatcher's propagation context."""

    carrier: Mapping[str, str]
    context: Any  # an OpenTelemetry Context holding the remote span
    span_id: int
    hints: Mapping[str, Any] | None


_restored: contextvars.ContextVar[_Restored | None] = contextvars.ContextVar(
    "threadline_llamaindex_restored", default=None
)


class _Entry:
    """One open dispatcher span: owns a threadline span (``handle``) or is folded into ``target``."""

    __slots__ = (
        "id",
        "handle",
        "folded_into",
        "category",
        "instance_id",
        "is_run",
        "pending",
        "finalizer",
        "result_ref",
        "usage",
        "saw_token",
        "ends_parent",
        "writer_done",
        "tool_name",
        "tool_call_id",
    )

    def __init__(self, id_: str, category: Category | None, instance_id: int) -> None:
        self.id = id_
        self.handle: SpanHandle | None = None
        self.folded_into: _Entry | None = None
        self.category = category
        self.instance_id = instance_id
        self.is_run = False
        self.pending = False
        self.finalizer: Any = None
        self.result_ref: Any = None
        self.usage: Any = None
        self.saw_token = False
        self.ends_parent = False
        self.writer_done: tuple[BaseException | None] | None = None
        self.tool_name: str | None = None
        self.tool_call_id: str | None = None

    @property
    def target(self) -> _Entry | None:
        """The entry whose span this one reports to: itself when it owns a span, else the one it is folded into.

        Not stored for an owner: ``entry.target = entry`` would be a reference
        cycle, leaving every span of a query to the garbage collector.
        """
        return self if self.handle is not None else self.folded_into


def _wrapped_gen_codes() -> frozenset[CodeType]:
    """The code objects of LlamaIndex's stream wrappers (``wrapped_gen`` in ``llms/callbacks.py``)."""
    module = sys.modules.get("llama_index.core.llms.callbacks")
    if module is None:
        return frozenset()
    found: set[CodeType] = set()

    def walk(code: CodeType) -> None:
        for const in code.co_consts:
            if isinstance(const, CodeType):
                if const.co_name == "wrapped_gen":
                    found.add(const)
                walk(const)

    for name in ("llm_chat_callback", "llm_completion_callback"):
        fn = getattr(module, name, None)
        code = getattr(fn, "__code__", None)
        if isinstance(code, CodeType):
            walk(code)
    return frozenset(found)


class Tracker:
    """The state shared by the span handler and the event handler."""

    def __init__(self, active_span_id: Any, active_tags: Any) -> None:
        self._active_span_id = active_span_id
        self._active_tags = active_tags
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._pending: dict[str, _Entry] = {}  # exited with a stream, waiting for its end
        self._streams: dict[str, _Entry] = {}  # the pending ones that are LLM streams
        self._reranks: dict[str, Any] = {}  # dispatcher span id -> the open reranker span inside it
        self._gen_codes: frozenset[CodeType] | None = None
        self._events: dict[str, Callable[[_Entry, Any], None]] = {
            "LLMChatInProgressEvent": self._on_progress,
            "LLMCompletionInProgressEvent": self._on_progress,
            "LLMChatEndEvent": self._on_llm_end,
            "LLMCompletionEndEvent": self._on_llm_end,
            "ExceptionEvent": self._on_exception,
            "SpanCancelledEvent": self._on_cancelled,
            "WorkflowStepOutputEvent": self._on_output_summary,
            "WorkflowRunOutputEvent": self._on_output_summary,
        }

    # -- dispatcher spans --------------------------------------------------------------------------
    def enter(self, id_: str, bound_args: Any, instance: Any, parent_id: str | None, tags: Any) -> bool:
        """A dispatcher span started; returns True when it owns a threadline span."""
        parent = self._entries.get(parent_id) if parent_id else None
        target = parent.target if parent is not None else None
        category = categorize(type(instance)) if instance is not None else None
        entry = _Entry(id_, category, id(instance) if instance is not None else 0)
        emitter = current_emitter()
        if not tags:
            # The workflow's run span is entered without tags: read the context variable.
            tags = self._active_tags.get() or {}
        record = self._record(entry, span_name(id_), bound_args, instance, parent, target, tags, emitter)
        if record is None:
            entry.folded_into = target
            with self._lock:
                self._entries[id_] = entry
            return False

        parent_handle = target.handle if target is not None else None
        # Another integration's span may sit between us and our dispatcher parent
        # (a LangChain runnable, an @observe function): the innermost one wins.
        current = emitter.current_handle()
        if (
            current is not None
            and current is not parent_handle
            and (parent_handle is None or current.start_ns > parent_handle.start_ns)
        ):
            parent_handle = current
        parent_context = None
        if parent_handle is None:
            restored = _restored.get()
            if restored is not None:
                parent_handle = self._open_handle_with_span_id(restored.span_id)
                if parent_handle is None:
                    parent_context = restored.context
                    if restored.hints:
                        record.session_hints = {**(record.session_hints or {}), **restored.hints}
        entry.handle = emitter.start(record, parent=parent_handle, parent_context=parent_context)
        with self._lock:
            self._entries[id_] = entry
        return True

    def exit(self, id_: str, result: Any) -> bool:
        """A dispatcher span returned ``result``; returns True when it was one of ours."""
        entry = self._entries.get(id_)
        if entry is None:
            return False
        if entry.handle is None:
            self._leave_folded(entry, None)
            return False
        record = entry.handle.record
        emitter = current_emitter()
        capture = emitter.content.capture
        category = entry.category
        if isinstance(record, ModelCall) and category is Category.LLM:
            if inspect.isgenerator(result) or inspect.isasyncgen(result):
                self._hold(entry, result, stream=True)
                return True
            if record.outputs is None and record.usage is None:
                self._apply_response(entry, result, capture)
        elif category is Category.CHAT_ENGINE and type(result).__name__ == "StreamingAgentChatResponse":
            with self._lock:
                done = entry.writer_done
                if done is None:
                    # From here on the writer thread / task ends this span.
                    entry.result_ref = _weak(result)
                    entry.pending = True
            if done is None:
                self._hold(entry, result, stream=False)
                return True
            # The writer finished before stream_chat returned (a fast stream).
            self._apply_result(entry, record, result, capture)
            self._finish(entry, error=done[0])  # an error ends it as one (Emitter.end)
            return True
        else:
            self._apply_result(entry, record, result, capture)
        self._finish(entry)
        return True

    def drop(self, id_: str, err: BaseException | None) -> bool:
        """A dispatcher span raised: it ends as an error, always."""
        entry = self._entries.get(id_)
        if entry is None:
            return False
        if entry.handle is None:
            self._leave_folded(entry, err or RuntimeError("stream failed"))
            return False
        self._finish(entry, outcome=Outcome.ERROR, error=err)
        return True

    # -- events ------------------------------------------------------------------------------------
    def on_event(self, event: Any) -> None:
        """Route a dispatcher event to the span it belongs to (by ``event.span_id``)."""
        kind = type(event).__name__
        if kind in ("ReRankStartEvent", "ReRankEndEvent"):
            self._on_rerank(event, start=kind == "ReRankStartEvent")
            return
        handler = self._events.get(kind)
        if handler is None:
            return
        span_id = getattr(event, "span_id", None)
        entry = self._entries.get(span_id) if span_id else None
        if entry is None or entry.handle is None:
            return
        handler(entry, event)

    def _on_progress(self, entry: _Entry, event: Any) -> None:
        response = getattr(event, "response", None)
        if not entry.saw_token and _has_token(response):
            entry.saw_token = True
            current_emitter().first_token(entry.handle)  # type: ignore[arg-type]
        usage = ex.usage_of(response)
        if usage is not None:
            entry.usage = ex.merge_usage(entry.usage, usage)
        raw = ex.get(response, "raw")
        if raw is not None:
            # Streams spread these over chunks (OpenAI: finish_reason before the usage chunk;
            # Anthropic: stop_reason on message_delta, model and id on message_start).
            self._apply_raw(entry.handle.record, raw)  # type: ignore[union-attr]

    def _on_llm_end(self, entry: _Entry, event: Any) -> None:
        self._apply_response(entry, getattr(event, "response", None), current_emitter().content.capture)
        if entry.pending:
            self._finish(entry, end_reason="completed")

    def _on_rerank(self, event: Any, *, start: bool) -> None:
        """A reranker's start or end event: rerankers have no dispatcher span of their own.

        The span opens under the innermost open threadline span and is paired
        with its end by the dispatcher span the events were sent in.
        """
        emitter = current_emitter()
        key = getattr(event, "span_id", None) or ""
        old = self._reranks.pop(key, None)
        capture = emitter.content.capture
        if not start:
            if old is not None:
                if capture:
                    old.record.outputs = _documents(getattr(event, "nodes", None))
                emitter.end(old)
            return
        if old is not None:
            emitter.end(old)
        given = None
        if capture:
            given = {"query": ex.query_text(getattr(event, "query", None)), "documents": _documents(event.nodes)}
            if isinstance(getattr(event, "model_name", None), str):
                given["model"] = event.model_name
            if isinstance(getattr(event, "top_n", None), int):
                given["top_k"] = event.top_n
        name = getattr(event, "model_name", None) or "rerank"
        record = Run(name=f"rerank {name}", integration=INTEGRATION, inputs=given, run_kind=SpanKind.RERANKER)
        if len(self._reranks) < 1024:  # an end event that never comes must not grow the map forever
            self._reranks[key] = emitter.start(record)
        else:
            emitter.end(emitter.start(record))

    def _on_exception(self, entry: _Entry, event: Any) -> None:
        if not entry.pending:
            return  # a span still running is dropped by the dispatcher itself
        exc = getattr(event, "exception", None)
        if isinstance(exc, GeneratorExit):
            self._finish(entry, outcome=Outcome.CANCELLED, end_reason="closed_early")
        else:
            self._finish(entry, outcome=Outcome.ERROR, error=exc, end_reason="error")

    def _on_cancelled(self, entry: _Entry, event: Any) -> None:
        entry.handle.record.outcome = Outcome.CANCELLED  # type: ignore[union-attr]

    def _on_output_summary(self, entry: _Entry, event: Any) -> None:
        record = entry.handle.record  # type: ignore[union-attr]
        if record.outputs is None and current_emitter().content.capture:
            record.outputs = getattr(event, "output", None)

    # -- the context provider --------------------------------------------------------------------------
    def current_handle(self) -> SpanHandle | None:
        """The LlamaIndex span enclosing the running code, for other integrations' spans.

        The dispatcher's ``active_span_id`` names the span being run; while a
        stream is consumed, the generator that is running names its LLM span
        (its ``wrapped_gen`` frame holds the span id). The later-started wins.
        """
        best: SpanHandle | None = None
        if self._streams:
            stream = self._running_stream()
            if stream is not None:
                best = stream.handle
        active = self._active_span_id.get()
        entry = self._entries.get(active) if active else None
        if entry is not None and entry.target is not None:
            handle = entry.target.handle
            if handle is not None and not handle.ended and (best is None or handle.start_ns > best.start_ns):
                best = handle
        return best

    def _running_stream(self) -> _Entry | None:
        codes = self._gen_codes
        if not codes:
            return None
        frame = sys._getframe(2)
        depth = 0
        while frame is not None and depth < _FRAME_DEPTH:
            if frame.f_code in codes:
                span_id = frame.f_locals.get("span_id")
                entry = self._streams.get(span_id) if isinstance(span_id, str) else None
                if entry is not None:
                    return entry
            frame = frame.f_back
            depth += 1
        return None

    # -- propagation across processes --------------------------------------------------------------------
    def capture_propagation(self) -> dict[str, Any]:
        """W3C trace context (and the session) of the span enclosing the caller."""
        handle = current_emitter().current_handle()
        if handle is None:
            restored = _restored.get()
            if restored is not None:
                return {PROPAGATION_KEY: dict(restored.carrier)}
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

    def restore_propagation(self, context: Mapping[str, Any]) -> None:
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
        _restored.set(_Restored(clean, ctx, span_context.span_id, hints))

    def _open_handle_with_span_id(self, span_id: int) -> SpanHandle | None:
        for entry in list(self._entries.values()):
            handle = entry.handle
            if handle is not None and not handle.ended and handle.span_context.span_id == span_id:
                return handle
        return None

    # -- shutdown --------------------------------------------------------------------------------------
    def close(self) -> None:
        """End every span still open (uninstrument, dispatcher shutdown): they will get no more signals."""
        with self._lock:
            entries = list(self._entries.values())
        for entry in entries:
            if entry.handle is not None:
                with guard("llamaindex.close"):
                    self._finish(entry, outcome=Outcome.CANCELLED, end_reason="abandoned")
        with self._lock:
            self._entries.clear()
            self._pending.clear()
            self._streams.clear()

    def open_count(self) -> int:
        """How many dispatcher spans are tracked (open, or streams waiting for their end)."""
        return len(self._entries)

    # -- records -----------------------------------------------------------------------------------------
    def _record(
        self,
        entry: _Entry,
        name: str,
        bound_args: Any,
        instance: Any,
        parent: _Entry | None,
        target: _Entry | None,
        tags: Mapping[str, Any],
        emitter: Emitter,
    ) -> SpanRecord | None:
        category = entry.category
        method = name.rsplit(".", 1)[-1]
        capture = emitter.content.capture
        if category is None:  # a function: a workflow step, or a user's function
            if parent is not None and parent.is_run and parent.handle is not None:
                return self._step_record(entry, name, method, bound_args, tags, emitter, capture)
            if name in INTERNAL_FUNCTIONS:
                return None
            return Run(name=name, integration=INTEGRATION, run_id=entry.id, session_hints=self._hints(emitter, tags))
        if category is Category.USER:
            return Run(name=name, integration=INTEGRATION, run_id=entry.id, session_hints=self._hints(emitter, tags))
        if category is Category.STREAM_WRITER:
            entry.ends_parent = method in ("write_response_to_history", "awrite_response_to_history")
            return None
        if method not in KEPT_METHODS.get(category, ()):
            return None
        hints = self._hints(emitter, tags)
        if category is Category.LLM:
            chat = method in CHAT_METHODS
            if chat:
                inputs = ex.messages(ex.argument(bound_args, "messages")) if capture else None
            else:
                inputs = ex.argument(bound_args, "prompt") if capture else None
            return ModelCall(
                name=name,
                integration=INTEGRATION,
                run_id=entry.id,
                inputs=inputs,
                session_hints=hints,
                operation=sc.OP_CHAT if chat else sc.OP_TEXT_COMPLETION,
                provider=ex.provider_of(type(instance)),
                request_model=ex.model_of(instance),
                temperature=ex.number(ex.field(instance, "temperature"), float),
                max_tokens=ex.number(ex.field(instance, "max_tokens"), int),
                streamed=method.startswith(("stream", "astream")),
            )
        if category is Category.EMBEDDING:
            inputs = None
            if capture:
                for arg in ("texts", "text", "query"):
                    inputs = ex.argument(bound_args, arg)
                    if inputs is not None:
                        break
            return ModelCall(
                name=name,
                integration=INTEGRATION,
                run_id=entry.id,
                inputs=inputs,
                session_hints=hints,
                operation=sc.OP_EMBEDDINGS,
                provider=ex.provider_of(type(instance)),
                request_model=ex.model_of(instance),
            )
        if category is Category.RETRIEVER:
            index_id = ex.get(ex.get(instance, "_index"), "index_id")
            return Retrieval(
                name=name,
                integration=INTEGRATION,
                run_id=entry.id,
                inputs=ex.query_text(ex.argument(bound_args, "str_or_query_bundle")) if capture else None,
                session_hints=hints,
                data_source=index_id if isinstance(index_id, str) else None,
            )
        if category is Category.TOOL:
            metadata = ex.get(instance, "metadata")
            tool_name = ex.get(metadata, "name")
            tool_name = tool_name if isinstance(tool_name, str) and tool_name else type(instance).__name__
            if (
                target is not None
                and target.category is Category.TOOL
                and (target.instance_id == entry.instance_id or target.tool_name == tool_name)
            ):
                return None  # __call__ -> call, or an async adapter around the same tool
            entry.tool_name = tool_name
            call_id = None
            if target is not None and target.tool_call_id and target.tool_name == tool_name:
                call_id = target.tool_call_id
            description = ex.get(metadata, "description")
            return ToolCall(
                name=tool_name,
                integration=INTEGRATION,
                run_id=entry.id,
                inputs=ex.tool_arguments(bound_args) if capture else None,
                session_hints=hints,
                tool_name=tool_name,
                call_id=call_id,
                description=description if isinstance(description, str) else None,
            )
        if category in (Category.AGENT, Category.WORKFLOW):
            return self._run_record(entry, name, bound_args, instance, tags, emitter, capture)
        inputs = None
        if capture:
            if category is Category.QUERY_ENGINE:
                inputs = ex.query_text(ex.argument(bound_args, "str_or_query_bundle"))
            elif category is Category.SYNTHESIZER:
                inputs = ex.query_text(ex.argument(bound_args, "query"))
            elif category is Category.CHAT_ENGINE:
                inputs = ex.argument(bound_args, "message")
        if category is Category.CHAT_ENGINE:
            hints = self._hints(emitter, tags, memory=ex.chat_engine_memory(instance))
        return Run(name=name, integration=INTEGRATION, run_id=entry.id, inputs=inputs, session_hints=hints)

    def _run_record(
        self,
        entry: _Entry,
        name: str,
        bound_args: Any,
        instance: Any,
        tags: Mapping[str, Any],
        emitter: Emitter,
        capture: bool,
    ) -> Run:
        entry.is_run = True
        start_event = ex.argument(bound_args, "start_event")
        agent = entry.category is Category.AGENT
        inputs = None
        if capture:
            user_msg = ex.get(start_event, "user_msg") if agent else None
            if user_msg is not None:
                inputs = user_msg if isinstance(user_msg, str) else ex.message(user_msg)
            else:
                inputs = tags.get(START_EVENT_TAG)
        memory = ex.get(start_event, "memory") if agent else None
        turn_id = tags.get(RUN_ID_TAG)
        agent_name = ex.get(instance, "name") if agent else None
        return Run(
            name=agent_name if isinstance(agent_name, str) and agent_name else type(instance).__name__,
            integration=INTEGRATION,
            run_id=entry.id,
            inputs=inputs,
            session_hints=self._hints(emitter, tags, memory=memory),
            run_kind=SpanKind.AGENT if agent else SpanKind.GRAPH,
            turn_id=turn_id if isinstance(turn_id, str) else None,
        )

    def _step_record(
        self,
        entry: _Entry,
        name: str,
        method: str,
        bound_args: Any,
        tags: Mapping[str, Any],
        emitter: Emitter,
        capture: bool,
    ) -> Run:
        event = ex.argument(bound_args, "ev")
        tool_id = ex.get(event, "tool_id")
        if isinstance(tool_id, str) and tool_id:
            # The agent's call_tool step: its tool span gets this call id.
            entry.tool_call_id = tool_id
            tool_name = ex.get(event, "tool_name")
            entry.tool_name = tool_name if isinstance(tool_name, str) else None
        turn_id = tags.get(RUN_ID_TAG)
        return Run(
            name=method,
            integration=INTEGRATION,
            run_id=entry.id,
            inputs=tags.get(STEP_SUMMARY_TAG) if capture else None,
            session_hints=self._hints(emitter, tags),
            run_kind=SpanKind.NODE,
            node=method,
            turn_id=turn_id if isinstance(turn_id, str) else None,
        )

    def _hints(self, emitter: Emitter, tags: Mapping[str, Any], memory: Any = None) -> dict[str, Any] | None:
        """Session hints in precedence order: ``instrument_tags`` keys, then the chat memory's id."""
        hints: dict[str, Any] = {}
        if tags:
            for key in emitter.user_keys:
                value = tags.get(key)
                if value is not None and value != "":
                    hints[key] = value
            for key in emitter.session_keys:
                value = tags.get(key)
                if value is not None and value != "":
                    hints[key] = value
                    return hints
        if memory is not None:
            session_id = ex.memory_session_id(memory)
            if session_id:
                hints[MEMORY_SESSION_KEY] = session_id
        return hints or None

    # -- results ----------------------------------------------------------------------------------------
    def _apply_result(self, entry: _Entry, record: SpanRecord, result: Any, capture: bool) -> None:
        category = entry.category
        if category is Category.EMBEDDING:
            dims = _dimensions(result)
            if dims:
                record.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dims
            return
        if not capture or result is None:
            return
        if category is Category.RETRIEVER:
            record.outputs = _documents(result)
        elif category in (Category.QUERY_ENGINE, Category.SYNTHESIZER, Category.CHAT_ENGINE):
            text = ex.get(result, "response")
            if isinstance(text, str):
                record.outputs = text
        elif category is Category.TOOL:
            content = ex.get(result, "content")
            record.outputs = content if content is not None else result
        elif entry.is_run:
            final = _workflow_result(result)
            if final is not None:
                record.outputs = final
        elif category is None and isinstance(record, Run) and record.run_kind is SpanKind.NODE:
            return  # a step: its output summary came with WorkflowStepOutputEvent
        elif not (inspect.isgenerator(result) or inspect.isasyncgen(result) or inspect.isawaitable(result)):
            record.outputs = result

    def _apply_response(self, entry: _Entry, response: Any, capture: bool) -> None:
        record = entry.handle.record  # type: ignore[union-attr]
        if response is None or not isinstance(record, ModelCall):
            return
        if capture:
            if record.operation == sc.OP_CHAT:
                msg = ex.get(response, "message")
                if msg is not None:
                    record.outputs = ex.message(msg)
            else:
                text = ex.get(response, "text")
                if text is not None:
                    record.outputs = text
        entry.usage = ex.merge_usage(entry.usage, ex.usage_of(response))
        record.usage = entry.usage
        raw = ex.get(response, "raw")
        if raw is not None:
            self._apply_raw(record, raw)

    @staticmethod
    def _apply_raw(record: Any, raw: Any) -> None:
        if not isinstance(record, ModelCall):
            return
        record.response_model = ex.response_model(raw) or record.response_model
        record.response_id = ex.response_id(raw) or record.response_id
        record.finish_reasons = ex.finish_reasons(raw) or record.finish_reasons

    # -- ending --------------------------------------------------------------------------------------------
    def _hold(self, entry: _Entry, result: Any, *, stream: bool) -> None:
        entry.pending = True
        if stream and self._gen_codes is None:
            self._gen_codes = _wrapped_gen_codes()
        overflow: list[_Entry] = []
        with self._lock:
            self._pending[entry.id] = entry
            if stream:
                self._streams[entry.id] = entry
            while len(self._pending) > MAX_PENDING:
                overflow.append(self._pending[next(iter(self._pending))])
                self._pending.pop(overflow[-1].id)
        try:
            finalizer = weakref.finalize(result, self._abandoned, entry.id)
            finalizer.atexit = False
            entry.finalizer = finalizer
        except TypeError:
            pass  # not weak-referenceable: the pending bound still applies
        for old in overflow:
            self._finish(old, outcome=Outcome.CANCELLED, end_reason="abandoned")

    def _abandoned(self, id_: str) -> None:
        with guard("llamaindex.stream_abandoned"):
            entry = self._pending.get(id_)
            if entry is not None:
                self._finish(entry, outcome=Outcome.CANCELLED, end_reason="garbage_collected")

    def _end_streamed_chat(self, entry: _Entry | None, error: BaseException | None) -> None:
        """A streaming chat engine's writer finished: the chat turn is over."""
        if entry is None or entry.handle is None:
            return
        with self._lock:
            if not entry.pending:
                entry.writer_done = (error,)  # the chat span has not returned yet: it ends on exit
                return
        if error is None and current_emitter().content.capture and entry.result_ref is not None:
            text = ex.get(entry.result_ref(), "response")
            if isinstance(text, str) and text:
                entry.handle.record.outputs = text
        self._finish(entry, error=error)

    def _leave_folded(self, entry: _Entry, error: BaseException | None) -> None:
        """A folded dispatcher span returned or raised: forget it; a stream writer's end ends its chat span."""
        self._take(entry.id)
        if entry.ends_parent:
            self._end_streamed_chat(entry.target, error)

    def _take(self, id_: str) -> _Entry | None:
        with self._lock:
            entry = self._entries.pop(id_, None)
            self._pending.pop(id_, None)
            self._streams.pop(id_, None)
            rerank = self._reranks.pop(id_, None)
        if rerank is not None:  # its end event never came: it ends with the span it ran in
            current_emitter().end(rerank)
        return entry

    def _finish(
        self,
        entry: _Entry,
        *,
        outcome: Outcome | None = None,
        error: BaseException | None = None,
        end_reason: str | None = None,
    ) -> None:
        taken = self._take(entry.id)
        if taken is not entry or entry.handle is None:
            return  # someone else ended it (an event racing the finalizer)
        if entry.finalizer is not None:
            entry.finalizer.detach()
        record = entry.handle.record
        if isinstance(record, ModelCall):
            if record.streamed and end_reason is not None:
                record.stream_end_reason = end_reason
            if record.usage is None and entry.usage is not None:
                record.usage = entry.usage
        current_emitter().end(entry.handle, outcome=outcome, error=error)


def _weak(obj: Any) -> Any:
    try:
        return weakref.ref(obj)
    except TypeError:
        return None


def _has_token(response: Any) -> bool:
    delta = ex.get(response, "delta")
    if isinstance(delta, str) and delta:
        return True
    return bool(ex.tool_calls(ex.get(response, "message")))


def _dimensions(result: Any) -> int | None:
    if isinstance(result, list) and result:
        first = result[0]
        if isinstance(first, (list, dict)):
            return len(first) or None
        if isinstance(first, (int, float)):
            return len(result)
    return None


def _documents(nodes: Any) -> Any:
    if not isinstance(nodes, list):
        return None
    docs = []
    for item in nodes:
        node = ex.get(item, "node", item)
        try:
            content = node.get_content()
        except Exception:
            content = None
        docs.append({"id": ex.get(node, "node_id"), "score": ex.get(item, "score"), "content": content})
    return docs


def _workflow_result(stop_event: Any) -> Any:
    """The final answer of a workflow run: an agent's response text, or ``StopEvent.result``."""
    result = ex.get(stop_event, "result")
    if result is None:
        return None
    response = ex.get(result, "response")
    if response is not None and type(result).__name__ == "AgentOutput":
        content = ex.get(response, "content")
        return content if content is not None else ex.message(response)
    return result
