"""What a record says as span attributes: names from :mod:`threadline.semconv`, values ready for OTel.

Pure functions of a record (and the content policy): the emitter decides
when they are written, this module decides what they are. The optional
scalars of each record type are read through one table per type (a record
field and the attribute it fills), so adding a field is one line.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from threadline import semconv as sc
from threadline.content import ContentPolicy, render
from threadline.records import GraphResume, ModelCall, Retrieval, Run, SpanKind, SpanRecord, ToolCall
from threadline.sessions import SessionInfo
from threadline.usage import Usage

Attributes = dict[str, Any]


def _scalars(*pairs: tuple[str, str]) -> Callable[[Any, Attributes], None]:
    """A writer of optional scalar fields: each ``(field, attribute)`` set unless ``None`` or ``""``."""
    read = attrgetter(*(field for field, _ in pairs))
    names = tuple(name for _, name in pairs)
    if len(pairs) == 1:
        (name,) = names

        def write_one(obj: Any, attrs: Attributes) -> None:
            value = read(obj)
            if value is not None and value != "":
                attrs[name] = value

        return write_one

    def write(obj: Any, attrs: Attributes) -> None:
        for name, value in zip(names, read(obj), strict=True):
            if value is not None and value != "":
                attrs[name] = value

    return write


_model_request = _scalars(
    ("provider", sc.GEN_AI_PROVIDER_NAME),
    ("request_model", sc.GEN_AI_REQUEST_MODEL),
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
    ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("server_address", sc.SERVER_ADDRESS),
)
_model_response = _scalars(
    ("response_model", sc.GEN_AI_RESPONSE_MODEL),
    ("response_id", sc.GEN_AI_RESPONSE_ID),
    ("stream_end_reason", sc.END_REASON),
)
_tool = _scalars(("call_id", sc.GEN_AI_TOOL_CALL_ID), ("description", sc.GEN_AI_TOOL_DESCRIPTION))
_retrieval = _scalars(("data_source", sc.GEN_AI_DATA_SOURCE_ID))
_graph_run = _scalars(
    ("node", sc.GRAPH_NODE),
    ("step", sc.GRAPH_STEP),
    ("checkpoint_ns", sc.GRAPH_CHECKPOINT_NS),
    ("checkpoint_id", sc.GRAPH_CHECKPOINT_ID),
    ("turn_id", sc.TURN_ID),
)
_usage = _scalars(
    ("input_tokens", sc.GEN_AI_USAGE_INPUT_TOKENS),
    ("output_tokens", sc.GEN_AI_USAGE_OUTPUT_TOKENS),
    ("cache_read_tokens", sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
    ("cache_write_tokens", sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
    ("reasoning_tokens", sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
)


def captured(attrs: Attributes, name: str, value: Any, content: ContentPolicy) -> None:
    """Set ``name`` to the captured text of ``value`` (nothing when capture is off), marking a cut."""
    text, cut = content.text(value)
    if text is not None:
        attrs[name] = text
        if cut:
            attrs[sc.TRUNCATED] = True


def span_name(record: SpanRecord) -> str:
    """The span name: ``chat gpt-4o``, ``execute_tool search``, or the record's name."""
    if isinstance(record, ModelCall):
        model = record.request_model or record.response_model
        return f"{record.operation} {model}" if model else record.name or record.operation
    if isinstance(record, ToolCall):
        return f"execute_tool {record.tool_name or record.name}"
    return record.name


def _model_start(record: ModelCall, attrs: Attributes, content: ContentPolicy) -> None:
    attrs[sc.GEN_AI_OPERATION_NAME] = record.operation
    _model_request(record, attrs)
    if record.tools:
        text, _ = content.text(record.tools)
        if text is not None:
            attrs[sc.GEN_AI_TOOL_DEFINITIONS] = text
    if record.invocation_parameters:
        attrs[sc.OI_LLM_INVOCATION_PARAMETERS] = render(record.invocation_parameters)


def _tool_start(record: ToolCall, attrs: Attributes, content: ContentPolicy) -> None:
    attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_EXECUTE_TOOL
    attrs[sc.GEN_AI_TOOL_NAME] = record.tool_name or record.name
    _tool(record, attrs)


def _retrieval_start(record: Retrieval, attrs: Attributes, content: ContentPolicy) -> None:
    attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_RETRIEVAL
    _retrieval(record, attrs)


def _run_start(record: Run, attrs: Attributes, content: ContentPolicy) -> None:
    if record.run_kind is SpanKind.AGENT:
        attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_INVOKE_AGENT
        attrs[sc.GEN_AI_AGENT_NAME] = record.name
    _graph_run(record, attrs)
    if record.triggers:
        attrs[sc.GRAPH_TRIGGERS] = [str(t) for t in record.triggers]
    if record.resume is not None:
        resume_attributes(record.resume, attrs, content)


def _no_more(record: SpanRecord, attrs: Attributes, content: ContentPolicy) -> None:
    return None


_Writer = Callable[[Any, Attributes, ContentPolicy], None]
_START_WRITERS: dict[type, _Writer] = {
    ModelCall: _model_start,
    ToolCall: _tool_start,
    Retrieval: _retrieval_start,
    Run: _run_start,
    SpanRecord: _no_more,
}


def _start_writer(cls: type) -> _Writer:
    """The writer of a record class (a subclass an integration made uses its base's)."""
    for base in cls.__mro__:
        found = _START_WRITERS.get(base)
        if found is not None:
            _START_WRITERS[cls] = found
            return found
    return _no_more


def start_attributes(record: SpanRecord, kind: SpanKind, content: ContentPolicy) -> Attributes:
    """Everything a record says when its span starts (the rendered input included)."""
    attrs: Attributes = {sc.SPAN_KIND: kind.value, sc.INTEGRATION: record.integration}
    if record.run_id is not None:
        attrs[sc.RUN_ID] = record.run_id
    if record.tags:
        attrs[sc.TAG_VALUES] = [str(t) for t in record.tags]
    if record.inputs is not None:
        captured(attrs, sc.OI_INPUT_VALUE, record.inputs, content)
    writer = _START_WRITERS.get(type(record)) or _start_writer(type(record))
    writer(record, attrs, content)
    return attrs


def model_end_attributes(record: ModelCall, attrs: Attributes) -> None:
    """What a model call knows when it ends, short of usage and cost."""
    _model_response(record, attrs)
    if record.streamed:  # known at the end too: some frameworks say so only when a chunk arrives
        attrs[sc.GEN_AI_REQUEST_STREAM] = True
    if record.finish_reasons:
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [str(r) for r in record.finish_reasons]
    if record.retries:
        attrs[sc.RETRIES] = record.retries


def usage_attributes(usage: Usage, attrs: Attributes) -> None:
    """The ``gen_ai.usage.*`` token counts that are known."""
    _usage(usage, attrs)
    if usage.cache_write_tokens is not None and usage.cache_write_1h_tokens:
        attrs[sc.USAGE_CACHE_CREATION_1H] = usage.cache_write_1h_tokens
    total = usage.total
    if total is not None:
        attrs[sc.GEN_AI_USAGE_TOTAL_TOKENS] = total


def error_event(err: BaseException, content: ContentPolicy) -> tuple[str, Attributes, str]:
    """``error.type``, the ``exception`` event's attributes and the status text of a span that raised ``err``.

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
    return cls.__qualname__, event, f"{cls.__name__}: {message}"[:500]


def session_attributes(info: SessionInfo) -> Attributes:
    """The attributes that stamp a span with ``info`` (the emitter's and the span processor's)."""
    attrs: Attributes = {sc.SESSION_ID: info.session_id, sc.SESSION_SOURCE: info.source}
    if info.original_id is not None:
        attrs[sc.SESSION_ID_ORIGINAL] = info.original_id
    if info.user_id is not None:
        attrs[sc.USER_ID] = info.user_id
    if info.tags:
        attrs[sc.TAGS] = list(info.tags)
    for key, value in info.metadata.items():
        attrs[sc.METADATA_PREFIX + str(key)] = value if isinstance(value, (str, bool, int, float)) else str(value)
    return attrs


def resume_attributes(resume: GraphResume, attrs: Attributes, content: ContentPolicy) -> None:
    """What the root of a resumed run answers (its input is the human's answer)."""
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
