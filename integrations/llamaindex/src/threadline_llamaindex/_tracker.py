"""Turns LlamaIndex dispatcher spans into threadline spans: the map of open spans, and how each ends.

The dispatcher gives every span an id and its parent's id (from its
``active_span_id`` context variable). The tracker keeps a map of open
dispatcher span id -> entry; an entry either owns a threadline span or is
folded into its nearest kept ancestor (see :mod:`._classify`): a folded span
is mapped straight to the entry it reports to. Parents come from that map,
never from ``context.attach()``: handler calls are not guaranteed to pair.

Streams: the dispatcher exits an LLM span as soon as the generator is
returned, while the response (and its usage) arrives later in
``LLMChatEndEvent`` / ``LLMCompletionEndEvent`` (or ``ExceptionEvent``, see
:mod:`._events`). Such a span stays open until then; a weak-reference
finalizer on the generator and a bound on pending streams end abandoned ones.
While a stream is consumed, :meth:`Tracker.current_handle` finds the
LlamaIndex span of the generator that is running (:mod:`._frames`), so a
provider call made lazily inside it (the OpenAI SDK span) nests under it in
the same trace.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from types import AsyncGeneratorType, CodeType, GeneratorType
from typing import Any

from opentelemetry import context as otel_context

from threadline.emitter import Emitter, SpanHandle
from threadline.guard import guard
from threadline.integration import current_emitter
from threadline.records import ModelCall, Outcome, SpanRecord
from threadline_llamaindex import _extract as ex
from threadline_llamaindex import _propagation, _records, _results
from threadline_llamaindex._classify import Category, classify
from threadline_llamaindex._entry import NO_TARGET, Entry
from threadline_llamaindex._events import EventRouter
from threadline_llamaindex._frames import running_stream, wrapped_gen_codes

MAX_PENDING = 1000  # streams returned but not finished; beyond this the oldest is ended as abandoned
_GENERATORS = (GeneratorType, AsyncGeneratorType)  # what inspect.isgenerator / isasyncgen test, in one call


class Tracker(EventRouter):
    """The state shared by the span handler and the event handler."""

    def __init__(self, active_span_id: Any, active_tags: Any) -> None:
        self._active_span_id = active_span_id
        self._active_tags = active_tags
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._pending: dict[str, Entry] = {}  # exited with a stream, waiting for its end
        self._streams: dict[str, Entry] = {}  # the pending ones that are LLM streams
        self._reranks: dict[str, SpanHandle] = {}  # dispatcher span id -> the open reranker span inside it
        self._gen_codes: frozenset[CodeType] | None = None
        self._events = self._event_handlers()

    # -- dispatcher spans --------------------------------------------------------------------------
    def enter(self, id_: str, bound_args: Any, instance: Any, parent_id: str | None, tags: Any) -> bool:
        """A dispatcher span started; returns True when it owns a threadline span."""
        parent = self._entries.get(parent_id) if parent_id else None
        target = None if parent is None else parent if parent.handle is not None else parent.folded_into
        category, name, folds = classify(instance, id_)
        if folds:  # most spans: decided without building anything
            self._entries[id_] = target if target is not None else NO_TARGET
            return False
        entry = Entry(id_, category, id(instance) if instance is not None else 0)
        emitter = current_emitter()
        if not tags:
            # The workflow's run span is entered without tags: read the context variable.
            tags = self._active_tags.get() or {}
        in_run = parent is not None and parent.id == parent_id and parent.is_run and parent.handle is not None
        record = self._record(entry, name, bound_args, instance, in_run, target, tags, emitter)
        if record is None:
            if entry.ends_parent:
                entry.folded_into = target
                self._entries[id_] = entry
            else:  # children and current_handle() only need the span it reports to
                self._entries[id_] = target if target is not None else NO_TARGET
            return False
        parent_handle, parent_context = self._parent(emitter, target, record)
        if parent_handle is None:
            # _parent() found no open span (nor will start()): start from this context, not a second look-up.
            if parent_context is None:
                parent_context = otel_context.get_current()
            entry.handle = emitter.start(record, use_current=False, parent_context=parent_context)
        else:
            entry.handle = emitter.start(record, parent=parent_handle, parent_context=parent_context)
        self._entries[id_] = entry
        return True

    def _parent(self, emitter: Emitter, target: Entry | None, record: SpanRecord) -> tuple[SpanHandle | None, Any]:
        """The parent span of a new span, or the remote parent's OpenTelemetry context when there is none."""
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
        if parent_handle is None:
            restored = _propagation.restored.get()
            if restored is not None:
                parent_handle = self._open_handle_with_span_id(restored.span_id)
                if parent_handle is None:
                    if restored.hints:
                        record.session_hints = {**(record.session_hints or {}), **restored.hints}
                    return None, restored.context
        return parent_handle, None

    def exit(self, id_: str, result: Any) -> bool:
        """A dispatcher span returned ``result``; returns True when it was one of ours."""
        entry = self._entries.get(id_)
        if entry is None:
            return False
        if entry.id != id_:  # folded, mapped to the span it reports to
            self._entries.pop(id_, None)
            if self._reranks:
                self._end_rerank(id_)
            return False
        if entry.handle is None:
            self._leave_folded(id_, entry, None)
            return False
        record = entry.handle.record
        capture = current_emitter().content.capture
        category = entry.category
        if isinstance(record, ModelCall) and category is Category.LLM:
            if isinstance(result, _GENERATORS):
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
        if entry.handle is None or entry.id != id_:
            self._leave_folded(id_, entry, err or RuntimeError("stream failed"))
            return False
        self._finish(entry, outcome=Outcome.ERROR, error=err)
        return True

    # Built in their own modules; reached through these names (a failure in them is reported by the handler).
    _record = staticmethod(_records.record_for)
    _apply_result = staticmethod(_results.apply_result)
    _apply_response = staticmethod(_results.apply_response)  # type: ignore[assignment]

    # -- the context provider --------------------------------------------------------------------------
    def current_handle(self) -> SpanHandle | None:
        """The LlamaIndex span enclosing the running code, for other integrations' spans.

        The dispatcher's ``active_span_id`` names the span being run; while a
        stream is consumed, the generator that is running names its LLM span
        (its ``wrapped_gen`` frame holds the span id). The later-started wins.
        """
        best: SpanHandle | None = None
        if self._streams and self._gen_codes:
            stream = running_stream(self._gen_codes, self._streams)
            if stream is not None:
                best = stream.handle
        active = self._active_span_id.get()
        entry = self._entries.get(active) if active else None
        if entry is not None and entry.target is not None:
            handle = entry.target.handle
            if handle is not None and not handle.ended and (best is None or handle.start_ns > best.start_ns):
                best = handle
        return best

    # -- propagation across processes --------------------------------------------------------------------
    def capture_propagation(self) -> dict[str, Any]:
        """W3C trace context (and the session) of the span enclosing the caller."""
        return _propagation.capture(current_emitter())

    def restore_propagation(self, context: Mapping[str, Any]) -> None:
        """Make the captured span the parent of the next root span in this context."""
        _propagation.restore(context)

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
                    self._finish(entry, "abandoned", Outcome.CANCELLED)
        with self._lock:
            self._entries.clear()
            self._pending.clear()
            self._streams.clear()

    def open_count(self) -> int:
        """How many dispatcher spans are tracked (open, or streams waiting for their end)."""
        return len(self._entries)

    # -- ending --------------------------------------------------------------------------------------------
    def _hold(self, entry: Entry, result: Any, *, stream: bool) -> None:
        entry.pending = True
        if stream and self._gen_codes is None:
            self._gen_codes = wrapped_gen_codes()
        overflow: list[Entry] = []
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
            self._finish(old, "abandoned", Outcome.CANCELLED)

    def _abandoned(self, id_: str) -> None:
        with guard("llamaindex.stream_abandoned"):
            entry = self._pending.get(id_)
            if entry is not None:
                self._finish(entry, "garbage_collected", Outcome.CANCELLED)

    def _end_streamed_chat(self, entry: Entry | None, error: BaseException | None) -> None:
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

    def _leave_folded(self, id_: str, entry: Entry, error: BaseException | None) -> None:
        """A folded dispatcher span returned or raised: forget it; a stream writer's end ends its chat span."""
        self._entries.pop(id_, None)
        if self._reranks:
            self._end_rerank(id_)
        if entry.ends_parent:
            self._end_streamed_chat(entry.target, error)

    def _end_rerank(self, id_: str) -> None:
        rerank = self._reranks.pop(id_, None)
        if rerank is not None:  # its end event never came: it ends with the span it ran in
            current_emitter().end(rerank)

    def _finish(
        self, entry: Entry, end_reason: str | None = None, outcome: Outcome | None = None, error: Any = None
    ) -> None:
        """End the span of ``entry`` once (``end_reason`` for a stream); whoever comes second does nothing."""
        with self._lock:
            taken = self._entries.pop(entry.id, None)
            self._pending.pop(entry.id, None)
            self._streams.pop(entry.id, None)
        if self._reranks:
            self._end_rerank(entry.id)
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
