"""The LangChain callback handler: every run becomes a threadline record.

==========================  =========================================
LangChain callback           record
==========================  =========================================
``on_chain_start``           ``Run(CHAIN)`` (``AgentExecutor``: ``AGENT``)
``on_chat_model_start``      ``ModelCall(operation="chat")``
``on_llm_start``             ``ModelCall(operation="text_completion")``
``on_tool_start``            ``ToolCall``
``on_retriever_start``       ``Retrieval``
==========================  =========================================

Parents come from the shared run map (:mod:`._registry`), never from the
current context: a callback is not guaranteed to pair with the code it
reports on. Runs tagged ``langsmith:hidden`` are folded into their parent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from threadline import semconv as sc
from threadline.emitter import Emitter, SpanHandle
from threadline.guard import failed, raise_internal_errors
from threadline.integration import current_emitter
from threadline.records import ModelCall, Outcome, Retrieval, Run, SpanKind, SpanRecord, ToolCall
from threadline_langchain import _extract as ex
from threadline_langchain._outcome import outcome_of
from threadline_langchain._prompt_text import messages_text
from threadline_langchain._registry import REGISTRY, RunEntry, RunRegistry
from threadline_langchain._slots import MODEL_SLOT

HIDDEN_TAG = "langsmith:hidden"
_INTERNAL_TAG_PREFIXES = ("seq:step:", "graph:step:", "map:key:", "langsmith:")
AGENT_CHAIN_NAMES = frozenset({"AgentExecutor"})
_MISSING: Any = object()
# What LangChain passes as a streamed run's input at its start; the real one comes with its end.
_STREAMED_INPUT = {"input": ""}

Build = Callable[[RunEntry | None], "tuple[SpanRecord | None, Any]"]
Update = Callable[[RunEntry, SpanRecord], None]


def user_tags(tags: Sequence[str] | None) -> list[str] | None:
    """The tags a user set, without LangChain's and LangGraph's bookkeeping tags."""
    if not tags:
        return None
    kept = [t for t in tags if isinstance(t, str) and not t.startswith(_INTERNAL_TAG_PREFIXES)]
    return kept or None


def run_name(serialized: Any, kwargs: Mapping[str, Any], default: str) -> str:
    """A run's name: the ``name`` LangChain passes, else the serialized class name."""
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if isinstance(serialized, Mapping):
        if isinstance(serialized.get("name"), str) and serialized["name"]:
            return serialized["name"]
        ids = serialized.get("id")
        if isinstance(ids, list) and ids and isinstance(ids[-1], str):
            return ids[-1]
    return default


class ThreadlineCallbackHandler(BaseCallbackHandler):
    """Traces LangChain runs as threadline spans.

    ``threadline.instrument()`` adds one to every LangChain callback manager,
    so nothing else is needed. Used alone, pass it in the config::

        handler = ThreadlineCallbackHandler()
        chain.invoke(question, config={"callbacks": [handler], "metadata": {"session_id": "chat-42"}})

    Spans go to the emitter of :func:`threadline.instrument` (or, without
    one, to the default SQLite store). A session id is read from the run
    metadata (``session_id``, ``thread_id``, ``conversation_id`` by default;
    ``user_id`` for the user); an explicit ``threadline.session()`` wins.
    """

    run_inline = True  # handlers that never block: run on the event loop, in the caller's context
    graph_events: ClassVar[bool] = False  # True for handlers that take LangGraph lifecycle events
    integration: ClassVar[str] = "langchain"

    def __init__(self, *, registry: RunRegistry | None = None) -> None:
        super().__init__()
        self._registry = registry if registry is not None else REGISTRY

    def __copy__(self) -> ThreadlineCallbackHandler:
        return self  # one handler, shared: it holds no per-run state of its own

    def __deepcopy__(self, memo: dict[int, Any]) -> ThreadlineCallbackHandler:
        return self

    @property
    def raise_error(self) -> bool:  # type: ignore[override]
        """Let LangChain re-raise this handler's failures only under tests (see :mod:`threadline.guard`)."""
        return raise_internal_errors()

    @property
    def open_runs(self) -> int:
        """How many runs are open in this handler's run map (0 when everything ended)."""
        return len(self._registry)

    # -- chains ---------------------------------------------------------------------------------
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a chain (or agent, graph, node) span."""
        try:
            self._start(
                run_id,
                parent_run_id,
                "chain",
                lambda parent: self._chain_record(serialized, inputs, run_id, parent, tags, metadata, kwargs),
            )
        except Exception as exc:
            if failed("langchain.on_chain_start", exc):
                raise

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a chain span with its outputs."""
        try:
            self._end(run_id, outputs=outputs, inputs=kwargs.get("inputs", _MISSING))
        except Exception as exc:
            if failed("langchain.on_chain_end", exc):
                raise

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a chain span that raised (an interrupt or a cancellation is not an error)."""
        try:
            self._end(run_id, error=error, inputs=kwargs.get("inputs", _MISSING))
        except Exception as exc:
            if failed("langchain.on_chain_error", exc):
                raise

    def _chain_record(
        self,
        serialized: Any,
        inputs: Any,
        run_id: UUID,
        parent: RunEntry | None,
        tags: list[str] | None,
        metadata: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
    ) -> tuple[SpanRecord | None, Any]:
        """The record of a chain run, or ``None`` to fold the run into its parent."""
        if tags and HIDDEN_TAG in tags:
            return None, None
        name = run_name(serialized, kwargs, "chain")
        kind = SpanKind.AGENT if name in AGENT_CHAIN_NAMES else SpanKind.CHAIN
        record = Run(
            name=name,
            integration=self.integration_for(parent),
            run_id=str(run_id),
            inputs=None if kwargs.get("defers_inputs") or inputs == _STREAMED_INPUT else self._content(parent, inputs),
            session_hints=metadata or None,
            tags=user_tags(tags),
            run_kind=kind,
        )
        return record, None

    # -- models -----------------------------------------------------------------------------------
    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a chat model span."""
        try:
            self._start_model(serialized, messages, sc.OP_CHAT, run_id, parent_run_id, tags, metadata, kwargs)
        except Exception as exc:
            if failed("langchain.on_chat_model_start", exc):
                raise

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a (text completion) LLM span."""
        try:
            self._start_model(serialized, prompts, sc.OP_TEXT_COMPLETION, run_id, parent_run_id, tags, metadata, kwargs)
        except Exception as exc:
            if failed("langchain.on_llm_start", exc):
                raise

    def _start_model(
        self,
        serialized: Any,
        prompts: Sequence[Any],
        operation: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
    ) -> None:
        slot = MODEL_SLOT.get()

        def build(parent: RunEntry | None) -> tuple[SpanRecord | None, Any]:
            params = ex.ModelParams(serialized, metadata, kwargs.get("invocation_params"), kwargs.get("name"))
            record = ModelCall(
                name=params.name,
                integration=self.integration_for(parent),
                run_id=str(run_id),
                inputs=_model_inputs(parent, prompts, chat=operation == sc.OP_CHAT),
                session_hints=metadata or None,
                tags=user_tags(tags),
                operation=operation,
                provider=params.provider,
                request_model=params.model,
                temperature=params.temperature,
                max_tokens=params.max_tokens,
                streamed=params.streamed or slot is not None,
                tools=params.tools,
                invocation_parameters=params.invocation_parameters,
            )
            return record, None

        entry = self._start(run_id, parent_run_id, "model", build)
        if entry is not None and slot is not None and slot.entry is None:
            slot.entry = entry

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Note the first streamed token of a model run (time to first token)."""
        entry = self._registry.get(run_id)
        if entry is None or entry.token_seen:
            return
        try:
            self._first_token(entry)
        except Exception as exc:
            if failed("langchain.on_llm_new_token", exc):
                raise

    def on_stream_event(self, event: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """``stream_events(version="v3")`` protocol events: the first content delta is the first token."""
        entry = self._registry.get(run_id)
        if entry is None or entry.token_seen:
            return
        try:
            if isinstance(event, Mapping) and event.get("event") == "content-block-delta":
                self._first_token(entry)
        except Exception as exc:
            if failed("langchain.on_stream_event", exc):
                raise

    def _first_token(self, entry: RunEntry) -> None:
        entry.token_seen = True
        handle = entry.handle
        if handle is None:
            return
        entry.emitter.first_token(handle)
        record = handle.record
        if isinstance(record, ModelCall):
            record.streamed = True

    def integration_for(self, parent: RunEntry | None) -> str:
        """The ``threadline.integration`` label of a run under ``parent``."""
        return self.integration

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a model span with its output, usage, response model and finish reasons."""
        try:
            self._end(run_id, update=lambda entry, record: _apply_model_result(entry, record, response))
        except Exception as exc:
            if failed("langchain.on_llm_end", exc):
                raise

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a model span that raised (a stream closed early ends cancelled)."""
        try:
            self._end(run_id, error=error, update=_model_error_update(error))
        except Exception as exc:
            if failed("langchain.on_llm_error", exc):
                raise

    def on_retry(self, retry_state: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Count a retry of a model run."""
        try:
            entry = self._registry.get(run_id)
            record = entry.handle.record if entry is not None and entry.handle is not None else None
            if isinstance(record, ModelCall):
                record.retries = (record.retries or 0) + 1
        except Exception as exc:
            if failed("langchain.on_retry", exc):
                raise

    # -- tools ------------------------------------------------------------------------------------------
    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a tool span."""
        try:
            self._start(
                run_id,
                parent_run_id,
                "tool",
                lambda parent: self._tool_record(serialized, input_str, inputs, run_id, parent, tags, metadata, kwargs),
            )
        except Exception as exc:
            if failed("langchain.on_tool_start", exc):
                raise

    def _tool_record(
        self,
        serialized: Any,
        input_str: str,
        inputs: Any,
        run_id: UUID,
        parent: RunEntry | None,
        tags: list[str] | None,
        metadata: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
    ) -> tuple[SpanRecord | None, Any]:
        ser = serialized if isinstance(serialized, Mapping) else {}
        name = run_name(serialized, kwargs, "tool")
        call_id = kwargs.get("tool_call_id")
        description = ser.get("description")
        record = ToolCall(
            name=name,
            integration=self.integration_for(parent),
            run_id=str(run_id),
            inputs=self._content(parent, input_str if inputs is None else inputs, _as_is),
            session_hints=metadata or None,
            tags=user_tags(tags),
            tool_name=name,
            call_id=call_id if isinstance(call_id, str) else None,
            description=description if isinstance(description, str) else None,
        )
        return record, None

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a tool span with its result."""
        try:
            self._end(run_id, outputs=output, view=ex.tool_output)
        except Exception as exc:
            if failed("langchain.on_tool_end", exc):
                raise

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a tool span that raised."""
        try:
            self._end(run_id, error=error)
        except Exception as exc:
            if failed("langchain.on_tool_error", exc):
                raise

    # -- retrievers ---------------------------------------------------------------------------------------
    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a retrieval span."""
        try:
            self._start(
                run_id,
                parent_run_id,
                "retriever",
                lambda parent: self._retrieval_record(serialized, query, run_id, parent, tags, metadata, kwargs),
            )
        except Exception as exc:
            if failed("langchain.on_retriever_start", exc):
                raise

    def _retrieval_record(
        self,
        serialized: Any,
        query: str,
        run_id: UUID,
        parent: RunEntry | None,
        tags: list[str] | None,
        metadata: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
    ) -> tuple[SpanRecord | None, Any]:
        md = metadata or {}
        source = md.get("ls_vector_store_provider") or md.get("ls_retriever_name")
        record = Retrieval(
            name=run_name(serialized, kwargs, "retriever"),
            integration=self.integration_for(parent),
            run_id=str(run_id),
            inputs=self._content(parent, query, _as_is),
            session_hints=metadata or None,
            tags=user_tags(tags),
            data_source=source if isinstance(source, str) else None,
        )
        return record, None

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a retrieval span with the documents found."""
        try:
            self._end(run_id, outputs=documents, view=ex.documents_view)
        except Exception as exc:
            if failed("langchain.on_retriever_end", exc):
                raise

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a retrieval span that raised."""
        try:
            self._end(run_id, error=error)
        except Exception as exc:
            if failed("langchain.on_retriever_error", exc):
                raise

    # -- the run map ------------------------------------------------------------------------------------
    def _start(self, run_id: UUID, parent_run_id: UUID | None, kind: str, build: Build) -> RunEntry | None:
        registry = self._registry
        if registry.get(run_id) is not None:
            return None  # another threadline handler on the same manager traces this run
        parent = registry.get(parent_run_id)
        if parent is None and registry.is_abandoned(parent_run_id):
            registry.mark_abandoned(run_id)  # the run it belongs to was already closed: no stray trace
            return None
        record, info = build(parent)
        emitter = parent.emitter if parent is not None else current_emitter()
        handle = None
        if record is not None:
            parent_handle = parent.span_handle if parent is not None else None
            handle = emitter.start(record, parent=_innermost(emitter, parent_handle), use_current=True)
        entry = RunEntry(run_id, handle, parent, emitter, kind, info)
        evicted = registry.add(entry)
        self._started(entry)
        for left in evicted:
            self._abandon(left)
        return entry

    def _started(self, entry: RunEntry) -> None:
        """Called once a run's entry is registered (subclasses hook in here)."""

    @staticmethod
    def _content(parent: RunEntry | None, value: Any, view: Callable[[Any], Any] = ex.io_view) -> Any:
        """``view(value)`` for capture, or ``None`` when content capture is off (no work for nothing)."""
        emitter = parent.emitter if parent is not None else current_emitter()
        return view(value) if emitter.content.capture else None

    def _end(
        self,
        run_id: UUID,
        *,
        outputs: Any = _MISSING,
        error: BaseException | None = None,
        update: Update | None = None,
        inputs: Any = _MISSING,
        view: Callable[[Any], Any] | None = None,
    ) -> None:
        entry, abandoned = self._registry.remove(run_id)
        for left in abandoned:  # a trace's root ended: what is still open under it never will (children first)
            self._abandon(left)
        if entry is None or entry.handle is None:
            return
        handle = entry.handle
        record = handle.record
        capture = entry.emitter.content.capture
        if capture and inputs is not _MISSING and inputs is not None and record.inputs is None:
            _late_inputs(entry.emitter, record, ex.io_view(inputs))
        if update is not None:
            update(entry, record)
        if capture and outputs is not _MISSING:
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


def _as_is(value: Any) -> Any:
    return value


def _model_inputs(parent: RunEntry | None, prompts: Sequence[Any], *, chat: bool) -> Any:
    """A model run's input: its messages (as text, rendered once per message) or its prompt(s)."""
    content = (parent.emitter if parent is not None else current_emitter()).content
    if not content.capture:
        return None
    if not chat:
        return prompts[0] if len(prompts) == 1 else list(prompts)
    if len(prompts) == 1:
        text = messages_text(prompts[0], content)
        return text if text is not None else ex.messages_view(prompts[0])
    return [ex.messages_view(m) for m in prompts]


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


def _apply_model_result(entry: RunEntry, record: SpanRecord, response: Any) -> None:
    if not isinstance(record, ModelCall):
        return
    result = ex.ModelResult(response, chat=record.operation == sc.OP_CHAT)
    record.outputs = result.outputs
    if result.usage is not None:
        record.usage = result.usage
    record.response_model = result.model or record.response_model
    record.response_id = result.response_id or record.response_id
    record.finish_reasons = result.finish_reasons or record.finish_reasons
    if record.provider is None and result.provider:
        record.provider = result.provider
        record.attributes[sc.GEN_AI_PROVIDER_NAME] = result.provider
        record.attributes[sc.OI_LLM_PROVIDER] = result.provider
    if entry.token_seen:
        record.stream_end_reason = "completed"


def _model_error_update(error: BaseException) -> Update:
    def update(entry: RunEntry, record: SpanRecord) -> None:
        if isinstance(record, ModelCall) and entry.token_seen:
            cancelled = outcome_of(error) is Outcome.CANCELLED
            record.stream_end_reason = "closed_early" if cancelled else "error"

    return update
