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
_KIND_VALUE = {k: k.value for k in SpanKind}  # an enum's .value is a Python-level call; this is a lookup


class _Scalars:
    """Optional scalar fields of a record type and the attributes they fill (``None`` and ``""`` are left out)."""

    __slots__ = ("read", "names")

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.read = attrgetter(*(field for field, _ in pairs))
        self.names = tuple(name for _, name in pairs)

    def write(self, obj: Any, attrs: Attributes) -> None:
        """Set the attribute of each field of ``obj`` that has a value."""
        values = self.read(obj)
        for name, value in zip(self.names, values if len(self.names) > 1 else (values,), strict=True):
            if value is not None and value != "":
                attrs[name] = value


_MODEL_REQUEST = _Scalars(
    ("provider", sc.GEN_AI_PROVIDER_NAME),
    ("request_model", sc.GEN_AI_REQUEST_MODEL),
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
    ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("server_address", sc.SERVER_ADDRESS),
)
_MODEL_RESPONSE = _Scalars(
    ("response_model", sc.GEN_AI_RESPONSE_MODEL),
    ("response_id", sc.GEN_AI_RESPONSE_ID),
    ("stream_end_reason", sc.END_REASON),
)
_TOOL = _Scalars(("call_id", sc.GEN_AI_TOOL_CALL_ID), ("description", sc.GEN_AI_TOOL_DESCRIPTION))
_RETRIEVAL = _Scalars(("data_source", sc.GEN_AI_DATA_SOURCE_ID))
_RUN = _Scalars(
    ("node", sc.GRAPH_NODE),
    ("step", sc.GRAPH_STEP),
    ("checkpoint_ns", sc.GRAPH_CHECKPOINT_NS),
    ("checkpoint_id", sc.GRAPH_CHECKPOINT_ID),
    ("turn_id", sc.TURN_ID),
)
_USAGE = _Scalars(
    ("input_tokens", sc.GEN_AI_USAGE_INPUT_TOKENS),
    ("output_tokens", sc.GEN_AI_USAGE_OUTPUT_TOKENS),
    ("cache_read_tokens", sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
    ("cache_write_tokens", sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
    ("reasoning_tokens", sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
)


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
    _MODEL_REQUEST.write(record, attrs)
    if record.tools:
        text, _ = content.text(record.tools)
        if text is not None:
            attrs[sc.GEN_AI_TOOL_DEFINITIONS] = text
    if record.invocation_parameters:
        attrs[sc.OI_LLM_INVOCATION_PARAMETERS] = render(record.invocation_parameters)


def _tool_start(record: ToolCall, attrs: Attributes, content: ContentPolicy) -> None:
    attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_EXECUTE_TOOL
    attrs[sc.GEN_AI_TOOL_NAME] = record.tool_name or record.name
    _TOOL.write(record, attrs)


def _retrieval_start(record: Retrieval, attrs: Attributes, content: ContentPolicy) -> None:
    attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_RETRIEVAL
    _RETRIEVAL.write(record, attrs)


def _other_start(record: SpanRecord, attrs: Attributes, content: ContentPolicy) -> None:
    return None


_Writer = Callable[[Any, Attributes, ContentPolicy], None]
_START_WRITERS: dict[type, _Writer | None] = {
    Run: None,  # the most common record: written inline, with no call
    ModelCall: _model_start,
    ToolCall: _tool_start,
    Retrieval: _retrieval_start,
    SpanRecord: _other_start,
}


def _start_writer(cls: type) -> _Writer | None:
    """The writer of a record class (a subclass an integration made uses its base's)."""
    for base in cls.__mro__:
        if base in _START_WRITERS:
            found = _START_WRITERS[cls] = _START_WRITERS[base]
            return found
    return _other_start


def start_attributes(record: SpanRecord, kind: SpanKind, content: ContentPolicy) -> Attributes:
    """What a record says when its span starts (the rendered input included)."""
    attrs: Attributes = {sc.SPAN_KIND: _KIND_VALUE[kind], sc.INTEGRATION: record.integration}
    if record.run_id is not None:
        attrs[sc.RUN_ID] = record.run_id
    if record.tags:
        attrs[sc.TAG_VALUES] = [str(t) for t in record.tags]
    if record.inputs is not None:
        text, cut = content.text(record.inputs)
        if text is not None:
            attrs[sc.OI_INPUT_VALUE] = text
            if cut:
                attrs[sc.TRUNCATED] = True
    cls = type(record)
    writer = _START_WRITERS[cls] if cls in _START_WRITERS else _start_writer(cls)
    if writer is not None:
        writer(record, attrs, content)
        return attrs
    # A Run (chain, agent, graph, node, observed function).
    if record.run_kind is SpanKind.AGENT:  # type: ignore[attr-defined]
        attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_INVOKE_AGENT
        attrs[sc.GEN_AI_AGENT_NAME] = record.name
    for name, value in zip(_RUN.names, _RUN.read(record), strict=True):
        if value is not None and value != "":
            attrs[name] = value
    triggers = record.triggers  # type: ignore[attr-defined]
    if triggers:
        attrs[sc.GRAPH_TRIGGERS] = [str(t) for t in triggers]
    if record.resume is not None:  # type: ignore[attr-defined]
        resume_attributes(record.resume, attrs, content)  # type: ignore[attr-defined]
    return attrs


def model_end_attributes(record: ModelCall, attrs: Attributes) -> None:
    """What a model call knows when it ends, short of usage and cost."""
    _MODEL_RESPONSE.write(record, attrs)
    if record.streamed:  # known at the end too: some frameworks say so only when a chunk arrives
        attrs[sc.GEN_AI_REQUEST_STREAM] = True
    if record.finish_reasons:
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [str(r) for r in record.finish_reasons]
    if record.retries:
        attrs[sc.RETRIES] = record.retries


def usage_attributes(usage: Usage, attrs: Attributes) -> None:
    """The ``gen_ai.usage.*`` token counts that are known."""
    _USAGE.write(usage, attrs)
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
