"""Dispatcher events routed to the open span they were sent in (by ``event.span_id``).

LLM progress and end events carry a call's response, usage and stream chunks;
exception and cancellation events end a pending stream; workflow output
events carry a step's or a run's output; reranker start and end events open
and close a span of their own (rerankers have no dispatcher span).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from threadline.emitter import SpanHandle
from threadline.integration import current_emitter
from threadline.records import Outcome, Run, SpanKind
from threadline_llamaindex import _extract as ex
from threadline_llamaindex._entry import Entry
from threadline_llamaindex._records import INTEGRATION
from threadline_llamaindex._results import apply_raw, documents, has_token

MAX_RERANKS = 1024  # an end event that never comes must not grow the map forever
_RERANK_EVENTS = {"ReRankStartEvent": True, "ReRankEndEvent": False}


class EventRouter:
    """The event side of :class:`threadline_llamaindex._tracker.Tracker` (a mixin over its maps)."""

    _entries: dict[str, Entry]
    _reranks: dict[str, SpanHandle]

    def _finish(
        self, entry: Entry, end_reason: str | None = None, outcome: Outcome | None = None, error: Any = None
    ) -> None:
        raise NotImplementedError

    def _apply_response(self, entry: Entry, response: Any, capture: bool) -> None:
        raise NotImplementedError

    def _event_handlers(self) -> dict[str, Callable[[Entry, Any], None]]:
        return {
            "LLMChatInProgressEvent": self._on_progress,
            "LLMCompletionInProgressEvent": self._on_progress,
            "LLMChatEndEvent": self._on_llm_end,
            "LLMCompletionEndEvent": self._on_llm_end,
            "ExceptionEvent": self._on_exception,
            "SpanCancelledEvent": self._on_cancelled,
            "WorkflowStepOutputEvent": self._on_output_summary,
            "WorkflowRunOutputEvent": self._on_output_summary,
        }

    def on_event(self, event: Any) -> None:
        """Route a dispatcher event to the span it belongs to (by ``event.span_id``)."""
        kind = type(event).__name__
        handler = self._events.get(kind)  # type: ignore[attr-defined]
        if handler is None:
            if kind in _RERANK_EVENTS:
                self._on_rerank(event, start=_RERANK_EVENTS[kind])
            return
        span_id = getattr(event, "span_id", None)
        entry = self._entries.get(span_id) if span_id else None
        # Folded spans map to the span they report to: their events are not that span's.
        if entry is None or entry.handle is None or entry.id != span_id:
            return
        handler(entry, event)

    def _on_progress(self, entry: Entry, event: Any) -> None:
        response = getattr(event, "response", None)
        if not entry.saw_token and has_token(response):
            entry.saw_token = True
            current_emitter().first_token(entry.handle)  # type: ignore[arg-type]
        usage = ex.usage_of(response)
        if usage is not None:
            entry.usage = ex.merge_usage(entry.usage, usage)
        raw = ex.get(response, "raw")
        if raw is not None:
            # Streams spread these over chunks (OpenAI: finish_reason before the usage chunk;
            # Anthropic: stop_reason on message_delta, model and id on message_start).
            apply_raw(entry.handle.record, raw)  # type: ignore[union-attr]

    def _on_llm_end(self, entry: Entry, event: Any) -> None:
        self._apply_response(entry, getattr(event, "response", None), current_emitter().content.capture)
        if entry.pending:
            self._finish(entry, "completed")

    def _on_rerank(self, event: Any, *, start: bool) -> None:
        """A reranker's start or end event: the span opens under the innermost open threadline span.

        It is paired with its end by the dispatcher span the events were sent in.
        """
        emitter = current_emitter()
        key = getattr(event, "span_id", None) or ""
        old = self._reranks.pop(key, None)
        capture = emitter.content.capture
        if not start:
            if old is not None:
                if capture:
                    old.record.outputs = documents(getattr(event, "nodes", None))
                emitter.end(old)
            return
        if old is not None:
            emitter.end(old)
        given = None
        if capture:
            given = {"query": ex.query_text(getattr(event, "query", None)), "documents": documents(event.nodes)}
            if isinstance(getattr(event, "model_name", None), str):
                given["model"] = event.model_name
            if isinstance(getattr(event, "top_n", None), int):
                given["top_k"] = event.top_n
        name = getattr(event, "model_name", None) or "rerank"
        record = Run(name=f"rerank {name}", integration=INTEGRATION, inputs=given, run_kind=SpanKind.RERANKER)
        if len(self._reranks) < MAX_RERANKS:
            self._reranks[key] = emitter.start(record)
        else:
            emitter.end(emitter.start(record))

    def _on_exception(self, entry: Entry, event: Any) -> None:
        if not entry.pending:
            return  # a span still running is dropped by the dispatcher itself
        exc = getattr(event, "exception", None)
        if isinstance(exc, GeneratorExit):
            self._finish(entry, "closed_early", Outcome.CANCELLED)
        else:
            self._finish(entry, "error", Outcome.ERROR, exc)

    def _on_cancelled(self, entry: Entry, event: Any) -> None:
        entry.handle.record.outcome = Outcome.CANCELLED  # type: ignore[union-attr]

    def _on_output_summary(self, entry: Entry, event: Any) -> None:
        record = entry.handle.record  # type: ignore[union-attr]
        if record.outputs is None and current_emitter().content.capture:
            record.outputs = getattr(event, "output", None)
