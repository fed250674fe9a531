"""Typed records of what happened, built by integrations, read by the emitter.

An integration never touches spans or attribute names: it fills a record and
hands it to :class:`threadline.emitter.Emitter`, which owns naming, session
stamping, content capture, usage and cost. A record is mutable while its span
is open (outputs, usage and outcome are filled in as they arrive).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from threadline.usage import Usage


class SpanKind(str, Enum):
    """What a span stands for."""

    MODEL = "model"
    EMBEDDING = "embedding"
    TOOL = "tool"
    RETRIEVAL = "retrieval"
    RERANKER = "reranker"  # documents re-ordered against a query (a LlamaIndex node postprocessor)
    CHAIN = "chain"
    AGENT = "agent"
    GRAPH = "graph"
    NODE = "node"
    OBSERVE = "observe"
    REQUEST = "request"  # a generic provider call on an endpoint we do not model


class Outcome(str, Enum):
    """How a span ended. Only ``ERROR`` sets the OpenTelemetry error status."""

    OK = "ok"
    ERROR = "error"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class SpanRecord:
    """Fields every record has.

    ``session_hints`` are the framework's own conversation ids found on this
    run, by key (``{"thread_id": "t-1"}``); the resolver picks one by the
    configured key order. ``user_hint`` likewise for the user id.
    ``attributes`` carries extra attributes built from :mod:`threadline.semconv`
    names only.
    """

    name: str
    integration: str = "threadline"
    run_id: str | None = None
    inputs: Any = None
    outputs: Any = None
    session_hints: Mapping[str, Any] | None = None
    user_hint: Any = None
    tags: Sequence[str] | None = None
    metadata: Mapping[str, Any] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome = Outcome.OK
    error: BaseException | None = None

    kind = SpanKind.CHAIN


@dataclass(slots=True)
class ModelCall(SpanRecord):
    """One call to a chat, completion or embedding model.

    ``operation`` is a ``gen_ai.operation.name`` value (``chat``,
    ``text_completion``, ``embeddings``). ``provider`` is a
    ``gen_ai.provider.name`` value (``openai``, ``azure.ai.openai``,
    ``anthropic`` ...). ``inputs`` holds the input messages or prompt,
    ``outputs`` the output message(s), each ``{"role", "content",
    "tool_calls": [{"id", "name", "arguments"}], "tool_call_id", "name"}``
    (the keys that apply), or the embedded text(s) for ``embeddings``.
    ``tools`` are the tool definitions offered to the model, each
    ``{"name", "description", "parameters"}`` (a JSON schema);
    ``invocation_parameters`` the request settings (temperature, top_p ...).
    """

    operation: str = "chat"
    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: Sequence[str] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    usage: Usage | None = None
    streamed: bool = False
    stream_end_reason: str | None = None  # completed | closed_early | error | garbage_collected
    retries: int | None = None
    server_address: str | None = None
    tools: Sequence[Mapping[str, Any]] | None = None
    invocation_parameters: Mapping[str, Any] | None = None

    @property
    def kind(self) -> SpanKind:  # type: ignore[override]
        """``EMBEDDING`` for the ``embeddings`` operation, ``MODEL`` otherwise."""
        return SpanKind.EMBEDDING if self.operation == "embeddings" else SpanKind.MODEL


@dataclass(slots=True)
class ToolCall(SpanRecord):
    """One tool execution. ``inputs`` are the arguments, ``outputs`` the result."""

    tool_name: str | None = None
    call_id: str | None = None
    description: str | None = None

    kind = SpanKind.TOOL


@dataclass(slots=True)
class Retrieval(SpanRecord):
    """One retriever query. ``inputs`` is the query, ``outputs`` the documents.

    Each document is ``{"content", "id", "score", "metadata"}`` (the keys known).
    """

    data_source: str | None = None

    kind = SpanKind.RETRIEVAL


@dataclass(slots=True)
class GraphResume:
    """What a resumed run answers: interrupt ids, the value, where it resumes.

    ``linked_trace`` is an OpenTelemetry ``SpanContext`` of the interrupted
    trace's root when that trace ran in this process.
    """

    interrupt_ids: Sequence[str] = ()
    value: Any = None
    checkpoint_id: str | None = None
    linked_trace: Any = None


@dataclass(slots=True)
class Run(SpanRecord):
    """A chain, agent, graph, graph node or observed function run.

    ``run_kind`` is one of ``SpanKind.CHAIN``, ``AGENT``, ``GRAPH``, ``NODE``,
    ``RERANKER`` or ``OBSERVE``. A ``RERANKER`` run has ``{"query",
    "documents"}`` as inputs and the kept documents as outputs. Graph node
    fields are set for ``NODE`` runs (and the graph fields for ``GRAPH``).
    ``resume`` is set on the root of a resumed run.
    """

    run_kind: SpanKind = SpanKind.CHAIN
    node: str | None = None
    step: int | None = None
    checkpoint_ns: str | None = None
    checkpoint_id: str | None = None
    triggers: Sequence[str] | None = None
    resume: GraphResume | None = None
    turn_id: str | None = None

    @property
    def kind(self) -> SpanKind:  # type: ignore[override]
        """The span kind, as given in ``run_kind``."""
        return self.run_kind


@dataclass(slots=True)
class Interrupt:
    """One pending human-in-the-loop interrupt."""

    id: str
    value: Any = None


@dataclass(slots=True)
class GraphPause:
    """A graph paused for input: the interrupts raised and where it stopped."""

    interrupts: Sequence[Interrupt] = ()
    checkpoint_id: str | None = None
    checkpoint_ns: str | None = None


_PLAIN = (str, int, float, bool, list, dict)


def invocation_parameters(params: Mapping[str, Any], exclude: frozenset[str]) -> dict[str, Any] | None:
    """A model request's settings (temperature, top_p, tool_choice ...): plain values set, minus ``exclude``."""
    out = {k: v for k, v in params.items() if k not in exclude and isinstance(v, _PLAIN)}
    return out or None


def tool_definition(tool: Any) -> dict[str, Any] | None:
    """One tool offered to a model, as ``{"type": "function", "name", "description", "parameters"}``.

    Reads the OpenAI Chat Completions format (``{"type": "function",
    "function": {...}}``), a bare function spec (Responses API, LangChain) and
    Anthropic's ``input_schema``; ``None`` for anything without a name.
    """
    if not isinstance(tool, Mapping):
        return None
    spec = tool.get("function") if isinstance(tool.get("function"), Mapping) else tool
    name = spec.get("name")
    if not isinstance(name, str):
        return None
    out: dict[str, Any] = {"type": "function", "name": name}
    if isinstance(spec.get("description"), str):
        out["description"] = spec["description"]
    parameters = spec.get("parameters", spec.get("input_schema"))
    if parameters is not None:
        out["parameters"] = parameters
    return out


def tool_definitions(tools: Any) -> list[dict[str, Any]] | None:
    """:func:`tool_definition` over a list (unreadable entries skipped); ``None`` when none is left."""
    if not isinstance(tools, (list, tuple)):
        return None
    out = [d for d in (tool_definition(t) for t in tools) if d is not None]
    return out or None
