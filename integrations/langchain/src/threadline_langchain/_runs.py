"""The span of each LangChain run: opened under its parent, closed with its outcome, or abandoned.

Parents come from the shared run map (:mod:`._registry`), never from the
current context: a callback is not guaranteed to pair with the code it
reports on. A run whose trace's root already ended is dropped, and what is
still open when a root ends is ended as cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from threadline import semconv as sc
from threadline.emitter import Emitter, SpanHandle
from threadline.guard import failed
from threadline.integration import current_emitter
from threadline.records import ModelCall, Outcome, SpanRecord
from threadline_langchain import _extract as ex
from threadline_langchain._outcome import outcome_of
from threadline_langchain._records import Update
from threadline_langchain._registry import RunEntry, RunRegistry

MISSING: Any = object()
# Builds a run's record from (serialized, value, parent, run), with what to remember about it; no record folds it.
Build = Callable[[Any, Any, "RunEntry | None", Mapping[str, Any]], "tuple[SpanRecord | None, Any]"]


class RunTracker:
    """Opens, closes and abandons run spans through a run map; the handler's hooks say what they record."""

    _registry: RunRegistry

    def _start(self, build: Build, serialized: Any, value: Any, run: Mapping[str, Any]) -> RunEntry | None:
        """Open the span of a run LangChain starts (``run`` holds its ``run_id``, ``parent_run_id`` ...)."""
        registry = self._registry
        run_id: UUID = run["run_id"]
        if registry.get(run_id) is not None:
            return None  # another threadline handler on the same manager traces this run
        parent_run_id = run.get("parent_run_id")
        parent = registry.get(parent_run_id)
        if parent is None and registry.is_abandoned(parent_run_id):
            registry.mark_abandoned(run_id)  # the run it belongs to was already closed: no stray trace
            return None
        record, info = build(serialized, value, parent, run)
        emitter = parent.emitter if parent is not None else current_emitter()
        handle = None
        if record is not None:
            parent_handle = None
            if parent is not None:
                parent_handle = parent.handle if parent.handle is not None else parent.span_handle
            handle = emitter.start(record, parent=_innermost(emitter, parent_handle), use_current=True)
        entry = RunEntry(run_id, handle, parent, emitter, info)
        for left in registry.add(entry):
            self._abandon(left)
        return entry

    @staticmethod
    def _content(parent: RunEntry | None, value: Any, view: Callable[[Any], Any] = ex.io_view) -> Any:
        """``view(value)`` for capture, or ``None`` when content capture is off (no work for nothing)."""
        emitter = parent.emitter if parent is not None else current_emitter()
        return view(value) if emitter.content.capture else None

    def _end(
        self,
        run_id: UUID,
        *,
        outputs: Any = MISSING,
        error: BaseException | None = None,
        update: Update | None = None,
        inputs: Any = MISSING,
        view: Callable[[Any], Any] | None = None,
    ) -> None:
        """Close the span of a run LangChain ended (``update`` fills its record first)."""
        entry, abandoned = self._registry.remove(run_id)
        for left in abandoned:  # a trace's root ended: what is still open under it never will (children first)
            self._abandon(left)
        if entry is None or entry.handle is None:
            return
        handle = entry.handle
        record = handle.record
        capture = entry.emitter.content.capture
        if capture and inputs is not MISSING and inputs is not None and record.inputs is None:
            _late_inputs(entry.emitter, record, ex.io_view(inputs))
        if update is not None:
            update(entry, record)
        if capture and outputs is not MISSING:
            record.outputs = view(outputs) if view is not None else self._outputs(entry, outputs)
        outcome: Outcome | None = None
        if error is not None:
            outcome = self._error_outcome(entry, error, outcome_of(error))
        elif abandoned:
            outcome = Outcome.CANCELLED  # it returned while work under it was still open
        entry.emitter.end(handle, outcome=outcome, error=error if outcome is Outcome.ERROR else None)

    def _outputs(self, entry: RunEntry, outputs: Any) -> Any:
        """What a chain run's span records as its output (subclasses may make it readable)."""
        return ex.io_view(outputs)

    def _error_outcome(self, entry: RunEntry, error: BaseException, outcome: Outcome) -> Outcome:
        """The outcome of a run that raised (subclasses record interrupts here)."""
        return outcome

    def _first_token(self, entry: RunEntry) -> None:
        """Note a model run's first streamed token (time to first token)."""
        try:
            entry.token_seen = True
            handle = entry.handle
            if handle is None:
                return
            entry.emitter.first_token(handle)
            record = handle.record
            if isinstance(record, ModelCall):
                record.streamed = True
        except Exception as exc:
            if failed("langchain.first_token", exc):
                raise

    def _abandon(self, entry: RunEntry) -> None:
        """End a run that will never report its end (its trace's root already ended)."""
        try:
            handle = entry.handle
            if handle is None or handle.ended:
                return
            record = handle.record
            if isinstance(record, ModelCall) and entry.token_seen:
                record.stream_end_reason = "closed_early"
            entry.emitter.end(handle, outcome=Outcome.CANCELLED)
        except Exception as exc:
            if failed("langchain.abandon", exc):
                raise


def _innermost(emitter: Emitter, parent: SpanHandle | None) -> SpanHandle | None:
    """The LangChain parent, unless a span of the same trace opened inside it encloses the running code.

    E.g. a ``@threadline.observe`` function called in a LangGraph node, which
    then invokes a chain: the chain belongs under the observed function.
    """
    current = emitter.current_handle()
    if current is None or current is parent:
        return parent
    if parent is None:
        return current
    if current.trace is parent.trace and current.start_ns >= parent.start_ns:
        return current
    return parent


def _late_inputs(emitter: Emitter, record: SpanRecord, value: Any) -> None:
    """Inputs LangChain reports only at the end (streamed chains): record them as the input value."""
    record.inputs = value
    text, cut = emitter.content.text(value)
    if text is not None:
        record.attributes[sc.OI_INPUT_VALUE] = text
        if cut:
            record.attributes[sc.TRUNCATED] = True
