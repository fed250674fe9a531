"""The threadline record a dispatcher span starts, or ``None`` when it folds into its parent.

What is kept and what folds is decided here from the span's category (see
:mod:`._classify`), method and parent; the record carries the request side
(model, settings, inputs when content is captured) and the session hints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from threadline import semconv as sc
from threadline.emitter import Emitter
from threadline.records import ModelCall, Retrieval, Run, SpanKind, SpanRecord, ToolCall
from threadline_llamaindex import _extract as ex
from threadline_llamaindex._classify import CHAT_METHODS, INTERNAL_FUNCTIONS, Category, folded
from threadline_llamaindex._entry import Entry

INTEGRATION = "llamaindex"
RUN_ID_TAG = "llamaindex.run_id"  # workflows: a new id per run -> the turn id, never the session
STEP_SUMMARY_TAG = "llamaindex.step.input_summary"
START_EVENT_TAG = "llamaindex.start_event"
MEMORY_SESSION_KEY = "session_id"  # the session hint key a chat memory's id is reported under


def record_for(
    entry: Entry,
    name: str,
    bound_args: Any,
    instance: Any,
    in_run: bool,
    target: Entry | None,
    tags: Mapping[str, Any],
    emitter: Emitter,
) -> SpanRecord | None:
    """The record of a new dispatcher span; ``in_run``: its direct parent is a workflow or agent run."""
    category = entry.category
    method = name.rsplit(".", 1)[-1]
    capture = emitter.content.capture
    if category is None or category is Category.USER:
        if category is None:  # a function: a workflow step, or a user's function
            if in_run:
                return _step_record(entry, method, bound_args, tags, emitter, capture)
            if name in INTERNAL_FUNCTIONS:
                return None
        return Run(name=name, integration=INTEGRATION, run_id=entry.id, session_hints=hints(emitter, tags))
    if category is Category.STREAM_WRITER:
        entry.ends_parent = method in ("write_response_to_history", "awrite_response_to_history")
        return None
    if folded(category, method):
        return None
    if category is Category.LLM or category is Category.EMBEDDING:
        return _model_record(entry, name, method, bound_args, instance, tags, emitter, capture)
    if category is Category.RETRIEVER:
        index_id = ex.get(ex.get(instance, "_index"), "index_id")
        return Retrieval(
            name=name,
            integration=INTEGRATION,
            run_id=entry.id,
            inputs=ex.query_text(ex.argument(bound_args, "str_or_query_bundle")) if capture else None,
            session_hints=hints(emitter, tags),
            data_source=index_id if isinstance(index_id, str) else None,
        )
    if category is Category.TOOL:
        return _tool_record(entry, bound_args, instance, target, tags, emitter, capture)
    if category in (Category.AGENT, Category.WORKFLOW):
        return _run_record(entry, bound_args, instance, tags, emitter, capture)
    inputs = None
    memory = None
    if category is Category.CHAT_ENGINE:
        inputs = ex.argument(bound_args, "message") if capture else None
        memory = ex.chat_engine_memory(instance)
    elif capture:
        if category is Category.QUERY_ENGINE:
            inputs = ex.query_text(ex.argument(bound_args, "str_or_query_bundle"))
        elif category is Category.SYNTHESIZER:
            inputs = ex.query_text(ex.argument(bound_args, "query"))
    return Run(
        name=name, integration=INTEGRATION, run_id=entry.id, inputs=inputs, session_hints=hints(emitter, tags, memory)
    )


def _model_record(
    entry: Entry,
    name: str,
    method: str,
    bound_args: Any,
    instance: Any,
    tags: Mapping[str, Any],
    emitter: Emitter,
    capture: bool,
) -> ModelCall:
    llm = entry.category is Category.LLM
    inputs = None
    if not llm:
        operation = sc.OP_EMBEDDINGS
        if capture:
            for arg in ("texts", "text", "query"):
                inputs = ex.argument(bound_args, arg)
                if inputs is not None:
                    break
    elif method in CHAT_METHODS:
        operation = sc.OP_CHAT
        inputs = ex.messages(ex.argument(bound_args, "messages")) if capture else None
    else:
        operation = sc.OP_TEXT_COMPLETION
        inputs = ex.argument(bound_args, "prompt") if capture else None
    record = ModelCall(
        name=name,
        integration=INTEGRATION,
        run_id=entry.id,
        inputs=inputs,
        session_hints=hints(emitter, tags),
        operation=operation,
        provider=ex.provider_of(type(instance)),
        request_model=ex.model_of(instance),
    )
    if llm:
        record.temperature = ex.number(ex.field(instance, "temperature"), float)
        record.max_tokens = ex.number(ex.field(instance, "max_tokens"), int)
        record.streamed = method.startswith(("stream", "astream"))
    return record


def _tool_record(
    entry: Entry,
    bound_args: Any,
    instance: Any,
    target: Entry | None,
    tags: Mapping[str, Any],
    emitter: Emitter,
    capture: bool,
) -> ToolCall | None:
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
        session_hints=hints(emitter, tags),
        tool_name=tool_name,
        call_id=call_id,
        description=description if isinstance(description, str) else None,
    )


def _run_record(
    entry: Entry, bound_args: Any, instance: Any, tags: Mapping[str, Any], emitter: Emitter, capture: bool
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
    agent_name = ex.get(instance, "name") if agent else None
    return Run(
        name=agent_name if isinstance(agent_name, str) and agent_name else type(instance).__name__,
        integration=INTEGRATION,
        run_id=entry.id,
        inputs=inputs,
        session_hints=hints(emitter, tags, memory),
        run_kind=SpanKind.AGENT if agent else SpanKind.GRAPH,
        turn_id=_turn_id(tags),
    )


def _step_record(
    entry: Entry, method: str, bound_args: Any, tags: Mapping[str, Any], emitter: Emitter, capture: bool
) -> Run:
    event = ex.argument(bound_args, "ev")
    tool_id = ex.get(event, "tool_id")
    if isinstance(tool_id, str) and tool_id:
        # The agent's call_tool step: its tool span gets this call id.
        entry.tool_call_id = tool_id
        tool_name = ex.get(event, "tool_name")
        entry.tool_name = tool_name if isinstance(tool_name, str) else None
    return Run(
        name=method,
        run_kind=SpanKind.NODE,
        node=method,
        turn_id=_turn_id(tags),
        integration=INTEGRATION,
        run_id=entry.id,
        inputs=tags.get(STEP_SUMMARY_TAG) if capture else None,
        session_hints=hints(emitter, tags),
    )


def _turn_id(tags: Mapping[str, Any]) -> str | None:
    """A workflow run's id (new on every run): the turn, never the session."""
    turn_id = tags.get(RUN_ID_TAG)
    return turn_id if isinstance(turn_id, str) else None


def hints(emitter: Emitter, tags: Mapping[str, Any], memory: Any = None) -> dict[str, Any] | None:
    """Session hints in precedence order: ``instrument_tags`` keys, then the chat memory's id."""
    found: dict[str, Any] = {}
    if tags:
        for key in emitter.user_keys:
            value = tags.get(key)
            if value is not None and value != "":
                found[key] = value
        for key in emitter.session_keys:
            value = tags.get(key)
            if value is not None and value != "":
                found[key] = value
                return found
    if memory is not None:
        session_id = ex.memory_session_id(memory)
        if session_id:
            found[MEMORY_SESSION_KEY] = session_id
    return found or None
