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

Each callback is a thin shell, guarded (:func:`guarded`), around one body
for sync and async runs alike: the handler runs inline in both kinds of
managers (``run_inline``), so LangChain's ``AsyncCallbackManager`` calls the
same methods. Spans are opened and closed by :class:`._runs.RunTracker`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from threadline import semconv as sc
from threadline.guard import failed, raise_internal_errors
from threadline.integration import current_emitter
from threadline.records import ModelCall, Retrieval, Run, SpanKind, SpanRecord, ToolCall
from threadline_langchain import _extract as ex
from threadline_langchain import _records as rec
from threadline_langchain._registry import REGISTRY, RunEntry, RunRegistry
from threadline_langchain._runs import MISSING, RunTracker
from threadline_langchain._slots import MODEL_SLOT

F = TypeVar("F", bound=Callable[..., None])


def guarded(method: F) -> F:
    """A callback whose failures are logged once as ``langchain.<name>`` and never reach LangChain (but in tests)."""
    where = f"langchain.{method.__name__}"

    @functools.wraps(method)
    def shell(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as exc:
            if failed(where, exc):
                raise

    return shell  # type: ignore[return-value]


class ThreadlineCallbackHandler(RunTracker, BaseCallbackHandler):
    """Traces LangChain runs as threadline spans.

    ``threadline.instrument()`` adds one to every LangChain callback manager,
    so nothing else is needed. Used alone, pass it in the config::

        handler = ThreadlineCallbackHandler()
        chain.invoke(question, config={"callbacks": [handler], "metadata": {"session_id": "chat-42"}})

    Spans go to the emitter of :func:`threadline.instrument` (or, without
    one, to the default SQLite store). A session id is read from the run
    metadata (``session_id``, ``thread_id``, ``conversation_id`` by default;
    ``user_id`` for the user); an explicit ``threadline.session()`` wins.

    The ``**run`` of each callback is what LangChain passes by keyword:
    ``run_id``, ``parent_run_id``, ``tags``, ``metadata``, ``name`` ...
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

    def integration_for(self, parent: RunEntry | None) -> str:
        """The ``threadline.integration`` label of a run under ``parent``."""
        return self.integration

    # -- starts -----------------------------------------------------------------------------------------
    @guarded
    def on_chain_start(self, serialized: dict[str, Any] | None, inputs: Any, **run: Any) -> None:
        """Open a chain (or agent, graph, node) span."""
        self._start(self._chain_record, serialized, inputs, run)

    @guarded
    def on_chat_model_start(self, serialized: dict[str, Any] | None, messages: list[list[Any]], **run: Any) -> None:
        """Open a chat model span."""
        self._start_model(self._chat_record, serialized, messages, run)

    @guarded
    def on_llm_start(self, serialized: dict[str, Any] | None, prompts: list[str], **run: Any) -> None:
        """Open a (text completion) LLM span."""
        self._start_model(self._completion_record, serialized, prompts, run)

    @guarded
    def on_tool_start(self, serialized: dict[str, Any] | None, input_str: str, **run: Any) -> None:
        """Open a tool span (its arguments: ``inputs`` when LangChain passes them, else ``input_str``)."""
        inputs = run.get("inputs")
        self._start(self._tool_record, serialized, input_str if inputs is None else inputs, run)

    @guarded
    def on_retriever_start(self, serialized: dict[str, Any] | None, query: str, **run: Any) -> None:
        """Open a retrieval span."""
        self._start(self._retrieval_record, serialized, query, run)

    # -- ends -------------------------------------------------------------------------------------------
    @guarded
    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a chain span with its outputs."""
        self._end(run_id, outputs=outputs, inputs=kwargs.get("inputs", MISSING))

    @guarded
    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a chain span that raised (an interrupt or a cancellation is not an error)."""
        self._end(run_id, error=error, inputs=kwargs.get("inputs", MISSING))

    @guarded
    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a model span with its output, usage, response model and finish reasons."""
        self._end(run_id, update=lambda entry, record: rec.apply_model_result(entry, record, response))

    @guarded
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a model span that raised (a stream closed early ends cancelled)."""
        self._end(run_id, error=error, update=rec.model_error_update(error))

    @guarded
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a tool span with its result."""
        self._end(run_id, outputs=output, view=ex.tool_output)

    @guarded
    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a retrieval span with the documents found."""
        self._end(run_id, outputs=documents, view=ex.documents_view)

    @guarded
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a tool span that raised."""
        self._end(run_id, error=error)

    @guarded
    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a retrieval span that raised."""
        self._end(run_id, error=error)

    # -- during a model run -----------------------------------------------------------------------------
    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Note the first streamed token of a model run (time to first token)."""
        entry = self._registry.get(run_id)
        if entry is not None and not entry.token_seen:
            self._first_token(entry)

    def on_stream_event(self, event: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """``stream_events(version="v3")`` protocol events: the first content delta is the first token."""
        entry = self._registry.get(run_id)
        if entry is not None and not entry.token_seen:
            if isinstance(event, Mapping) and event.get("event") == "content-block-delta":
                self._first_token(entry)

    @guarded
    def on_retry(self, retry_state: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Count a retry of a model run."""
        entry = self._registry.get(run_id)
        record = entry.handle.record if entry is not None and entry.handle is not None else None
        if isinstance(record, ModelCall):
            record.retries = (record.retries or 0) + 1

    # -- records ----------------------------------------------------------------------------------------
    def _chain_record(
        self, serialized: Any, inputs: Any, parent: RunEntry | None, run: Mapping[str, Any]
    ) -> tuple[SpanRecord | None, Any]:
        """The record of a chain run, or ``None`` to fold the run into its parent."""
        if rec.is_hidden(run):
            return None, None
        name = rec.run_name(serialized, run, "chain")
        metadata = run.get("metadata")
        record = Run(
            name=name,
            integration=self.integration_for(parent),
            run_id=str(run["run_id"]),
            inputs=None if run.get("defers_inputs") or inputs == rec.STREAMED_INPUT else self._content(parent, inputs),
            session_hints=metadata or None,
            tags=rec.user_tags(run.get("tags")),
            run_kind=SpanKind.AGENT if name in rec.AGENT_CHAIN_NAMES else SpanKind.CHAIN,
        )
        return record, None

    def _start_model(self, build: Any, serialized: Any, prompts: Any, run: Mapping[str, Any]) -> None:
        slot = MODEL_SLOT.get()
        entry = self._start(build, serialized, prompts, run)
        if entry is not None and slot is not None and slot.entry is None:
            slot.entry = entry  # the run the wrapped ``stream()`` drives

    def _chat_record(
        self, serialized: Any, messages: Any, parent: RunEntry | None, run: Mapping[str, Any]
    ) -> tuple[SpanRecord | None, Any]:
        return self._model_record(serialized, messages, parent, run, sc.OP_CHAT), None

    def _completion_record(
        self, serialized: Any, prompts: Any, parent: RunEntry | None, run: Mapping[str, Any]
    ) -> tuple[SpanRecord | None, Any]:
        return self._model_record(serialized, prompts, parent, run, sc.OP_TEXT_COMPLETION), None

    def _model_record(
        self, serialized: Any, prompts: Any, parent: RunEntry | None, run: Mapping[str, Any], operation: str
    ) -> ModelCall:
        metadata = run.get("metadata")
        params = ex.ModelParams(serialized, metadata, run.get("invocation_params"), run.get("name"))
        emitter = parent.emitter if parent is not None else current_emitter()
        return ModelCall(
            name=params.name,
            integration=self.integration_for(parent),
            run_id=str(run["run_id"]),
            inputs=rec.model_inputs(emitter.content, prompts, chat=operation == sc.OP_CHAT),
            session_hints=metadata or None,
            tags=rec.user_tags(run.get("tags")),
            operation=operation,
            provider=params.provider,
            request_model=params.model,
            temperature=params.temperature,
            max_tokens=params.max_tokens,
            streamed=params.streamed or MODEL_SLOT.get() is not None,
            tools=params.tools,
            invocation_parameters=params.invocation_parameters,
        )

    def _tool_record(
        self, serialized: Any, arguments: Any, parent: RunEntry | None, run: Mapping[str, Any]
    ) -> tuple[SpanRecord | None, Any]:
        name = rec.run_name(serialized, run, "tool")
        call_id = run.get("tool_call_id")
        description = serialized.get("description") if isinstance(serialized, Mapping) else None
        record = ToolCall(
            name=name,
            integration=self.integration_for(parent),
            run_id=str(run["run_id"]),
            inputs=self._content(parent, arguments, _as_is),
            session_hints=run.get("metadata") or None,
            tags=rec.user_tags(run.get("tags")),
            tool_name=name,
            call_id=call_id if isinstance(call_id, str) else None,
            description=description if isinstance(description, str) else None,
        )
        return record, None

    def _retrieval_record(
        self, serialized: Any, query: Any, parent: RunEntry | None, run: Mapping[str, Any]
    ) -> tuple[SpanRecord | None, Any]:
        metadata = run.get("metadata") or {}
        source = metadata.get("ls_vector_store_provider") or metadata.get("ls_retriever_name")
        record = Retrieval(
            name=rec.run_name(serialized, run, "retriever"),
            integration=self.integration_for(parent),
            run_id=str(run["run_id"]),
            inputs=self._content(parent, query, _as_is),
            session_hints=metadata or None,
            tags=rec.user_tags(run.get("tags")),
            data_source=source if isinstance(source, str) else None,
        )
        return record, None


def _as_is(value: Any) -> Any:
    return value
