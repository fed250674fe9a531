"""What each backend reads, produced from threadline's one vocabulary at export time.

The emitter writes each concept once (see :mod:`threadline.semconv`): content
as JSON text in ``input.value`` / ``output.value``, usage and models as
``gen_ai.*`` scalars, sessions, tags and metadata as ``session.id`` /
``threadline.tags`` / ``threadline.metadata.*``. :func:`translate` derives,
from those attributes alone, what a backend needs on top:

* ``genai``: OpenTelemetry GenAI messages of typed parts
  (``gen_ai.input.messages``, ``gen_ai.output.messages`` with
  ``finish_reason``, ``gen_ai.system_instructions``), ``gen_ai.conversation.id``,
  tool call arguments and results;
* ``openinference``: Phoenix's flattened ``llm.input_messages.*`` /
  ``llm.output_messages.*`` (with tool calls), ``llm.tools.*``,
  ``retrieval.documents.*``, ``embedding.embeddings.*``, ``reranker.*``,
  ``metadata`` (JSON), ``tag.tags``, mime types, token counts and cost;
* ``langfuse``: trace name, input, output, tags and metadata, environment and
  observation type.

It runs on the export thread (see :class:`threadline.exporters.dialects.DialectSpanExporter`),
never on the application's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from threadline import semconv as sc
from threadline.content import TRUNCATION_MARKER
from threadline.records import SpanKind

GENAI = "genai"
OPENINFERENCE = "openinference"
LANGFUSE = "langfuse"
DIALECTS: tuple[str, ...] = (GENAI, OPENINFERENCE, LANGFUSE)

_OI_KIND = {
    SpanKind.MODEL: sc.OI_KIND_LLM,
    SpanKind.EMBEDDING: sc.OI_KIND_EMBEDDING,
    SpanKind.TOOL: sc.OI_KIND_TOOL,
    SpanKind.RETRIEVAL: sc.OI_KIND_RETRIEVER,
    SpanKind.RERANKER: sc.OI_KIND_RERANKER,
    SpanKind.AGENT: sc.OI_KIND_AGENT,
}
_KINDS = frozenset(k.value for k in SpanKind)
_LANGFUSE_TYPE = {
    SpanKind.MODEL: "generation",
    SpanKind.EMBEDDING: "embedding",
    SpanKind.TOOL: "tool",
    SpanKind.RETRIEVAL: "retriever",
    SpanKind.RERANKER: "retriever",
    SpanKind.AGENT: "agent",
    SpanKind.CHAIN: "chain",
    SpanKind.GRAPH: "chain",
    SpanKind.NODE: "chain",
}


def check(dialects: Iterable[str]) -> tuple[str, ...]:
    """The dialects asked for, validated (``ValueError`` names an unknown one)."""
    chosen = tuple(dict.fromkeys(str(d).lower() for d in dialects))
    unknown = [d for d in chosen if d not in DIALECTS]
    if unknown:
        raise ValueError(f"unknown dialect(s) {unknown}; choose from {list(DIALECTS)}")
    return chosen


def translate(attrs: Mapping[str, Any], dialects: Sequence[str] = DIALECTS, *, name: str = "") -> dict[str, Any]:
    """The attributes the chosen dialects add to a span named ``name`` with attributes ``attrs``."""
    out: dict[str, Any] = {}
    view = _View(attrs, name)
    if GENAI in dialects:
        _genai(view, out)
    if OPENINFERENCE in dialects:
        _openinference(view, out)
    if LANGFUSE in dialects:
        _langfuse(view, out)
    for key in [k for k in out if k in attrs and k != sc.TAG_VALUES]:  # what the emitter (or the user) set wins
        del out[key]
    return out


class _View:
    """A span's attributes with its content decoded once, on demand."""

    __slots__ = ("attrs", "name", "kind", "_decoded")

    def __init__(self, attrs: Mapping[str, Any], name: str) -> None:
        self.attrs = attrs
        self.name = name
        kind = attrs.get(sc.SPAN_KIND)
        self.kind = SpanKind(kind) if kind in _KINDS else None
        self._decoded: dict[str, Any] = {}

    def json(self, name: str) -> Any:
        """The JSON value of attribute ``name`` (its text when it is no JSON, ``None`` when absent)."""
        if name not in self._decoded:
            self._decoded[name] = _decode(self.attrs.get(name))
        return self._decoded[name]

    @property
    def is_chat(self) -> bool:
        return self.kind is SpanKind.MODEL

    def messages(self, name: str) -> list[dict[str, Any]] | None:
        """Messages in ``name`` (a list of them, one, or a prompt text), or ``None``.

        ``None`` too for a value cut by the size cap that is no JSON any more:
        half a message list must not pass for a prompt.
        """
        value = self.json(name)
        if isinstance(value, str) and value.endswith(TRUNCATION_MARKER):
            return None
        if isinstance(value, str):
            role = "user" if name == sc.OI_INPUT_VALUE else "assistant"
            return [{"role": role, "content": value}]
        if isinstance(value, Mapping):
            value = [value]
        if not isinstance(value, list) or not value:
            return None
        if all(isinstance(m, str) for m in value):
            role = "user" if name == sc.OI_INPUT_VALUE else "assistant"
            return [{"role": role, "content": m} for m in value]
        messages = [_as_message(m) for m in value]
        if any(m is _NOT_A_MESSAGE for m in messages):
            return None
        return [m for m in messages if m is not None]

    def session_metadata(self) -> dict[str, Any]:
        prefix = sc.METADATA_PREFIX
        return {k[len(prefix) :]: v for k, v in self.attrs.items() if k.startswith(prefix)}


_NOT_A_MESSAGE: Any = object()


def _as_message(item: Any) -> dict[str, Any] | None:
    """A message dict for one item of a message list: a message, or a Responses API item.

    Responses items become what they stand for (a ``function_call`` an
    assistant tool call, its ``function_call_output`` a tool message);
    reasoning and other items are left out (``None``); anything else is no
    message list at all (``_NOT_A_MESSAGE``).
    """
    if not isinstance(item, Mapping):
        return _NOT_A_MESSAGE
    if "role" in item:
        return dict(item)
    kind = item.get("type")
    if kind == "function_call":
        call = {"id": item.get("call_id"), "name": item.get("name"), "arguments": item.get("arguments")}
        return {"role": "assistant", "tool_calls": [call]}
    if kind == "function_call_output":
        return {"role": "tool", "tool_call_id": item.get("call_id"), "content": item.get("output")}
    return None if isinstance(kind, str) else _NOT_A_MESSAGE


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value[:1] in ("{", "[", '"') or value in ("true", "false", "null") or value[:1].isdigit():
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _copy(view: _View, copies: Mapping[str, tuple[str, ...]], out: dict[str, Any]) -> None:
    attrs = view.attrs
    for mirror, sources in copies.items():
        for source in sources:
            value = attrs.get(source)
            if value is not None:
                out[mirror] = value
                break


def _text_of(content: Any) -> str | None:
    """A message's content as text: text parts joined, anything else as JSON."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") if isinstance(p, Mapping) else p for p in content]
        if all(isinstance(t, str) for t in texts):
            return "".join(texts)
    return _dump(content)


def _calls(message: Mapping[str, Any]) -> list[tuple[Any, Any, Any]]:
    """``(id, name, arguments)`` of a message's tool calls: threadline's shape or OpenAI's ``function``."""
    out = []
    for call in message.get("tool_calls") or ():
        if isinstance(call, Mapping):
            fn = call.get("function") if isinstance(call.get("function"), Mapping) else call
            out.append((call.get("id"), fn.get("name"), fn.get("arguments")))
    return out


def _arguments_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else _dump(arguments if arguments is not None else {})


# -- OpenTelemetry GenAI ---------------------------------------------------------------------------------


def _parts(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    role = message.get("role")
    if role == "tool":
        parts.append({"type": "tool_call_response", "id": message.get("tool_call_id"), "response": content})
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append({"type": "text", "content": part["text"]})
            elif isinstance(part, str):
                parts.append({"type": "text", "content": part})
            elif part is not None:
                parts.append({"type": str(part.get("type", "data")) if isinstance(part, Mapping) else "data"})
    elif content not in (None, ""):
        parts.append({"type": "text", "content": content if isinstance(content, str) else _dump(content)})
    else:
        transcript = message.get("audio", {}).get("transcript") if isinstance(message.get("audio"), Mapping) else None
        if isinstance(transcript, str):
            parts.append({"type": "text", "content": transcript})
    if isinstance(message.get("refusal"), str):
        parts.append({"type": "text", "content": message["refusal"]})
    for call_id, name, arguments in _calls(message):
        parts.append({"type": "tool_call", "id": call_id, "name": name, "arguments": _decode(arguments)})
    return parts


def _genai(view: _View, out: dict[str, Any]) -> None:
    _copy(view, sc.GENAI_COPIES, out)
    if view.kind is not SpanKind.TOOL:
        out.pop(sc.GEN_AI_TOOL_CALL_ARGUMENTS, None)
        out.pop(sc.GEN_AI_TOOL_CALL_RESULT, None)
    if not view.is_chat:
        return
    inputs = view.messages(sc.OI_INPUT_VALUE)
    if inputs:
        system = [p for m in inputs if m.get("role") in ("system", "developer") for p in _parts(m)]
        others = [{"role": m.get("role"), "parts": _parts(m)} for m in inputs if m.get("role") not in ("system",)]
        if system:
            out[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = _dump(system)
        out[sc.GEN_AI_INPUT_MESSAGES] = _dump(others)
    outputs = view.messages(sc.OI_OUTPUT_VALUE)
    if outputs:
        reasons = view.attrs.get(sc.GEN_AI_RESPONSE_FINISH_REASONS) or ()
        shaped = []
        for i, m in enumerate(outputs):
            item: dict[str, Any] = {"role": m.get("role") or "assistant", "parts": _parts(m)}
            if i < len(reasons):
                item["finish_reason"] = reasons[i]
            shaped.append(item)
        out[sc.GEN_AI_OUTPUT_MESSAGES] = _dump(shaped)


# -- OpenInference ---------------------------------------------------------------------------------------


def _oi_messages(prefix: str, messages: list[dict[str, Any]], out: dict[str, Any]) -> None:
    for i, m in enumerate(messages):
        base = f"{prefix}.{i}."
        out[base + sc.OI_MESSAGE_ROLE] = str(m.get("role"))
        text = _text_of(m.get("content"))
        if text:
            out[base + sc.OI_MESSAGE_CONTENT] = text
        if m.get("name"):
            out[base + sc.OI_MESSAGE_NAME] = str(m["name"])
        if m.get("tool_call_id"):
            out[base + sc.OI_MESSAGE_TOOL_CALL_ID] = str(m["tool_call_id"])
        for j, (call_id, name, arguments) in enumerate(_calls(m)):
            call_base = f"{base}{sc.OI_MESSAGE_TOOL_CALLS}.{j}."
            if call_id:
                out[call_base + sc.OI_TOOL_CALL_ID] = str(call_id)
            out[call_base + sc.OI_TOOL_CALL_FUNCTION_NAME] = str(name)
            out[call_base + sc.OI_TOOL_CALL_FUNCTION_ARGUMENTS] = _arguments_text(arguments)


def _oi_documents(prefix: str, documents: Any, out: dict[str, Any]) -> None:
    if not isinstance(documents, list):
        return
    for i, doc in enumerate(documents):
        base = f"{prefix}.{i}."
        if not isinstance(doc, Mapping):
            out[base + sc.OI_DOCUMENT_CONTENT] = doc if isinstance(doc, str) else _dump(doc)
            continue
        content = doc.get("content")
        if content is not None:
            out[base + sc.OI_DOCUMENT_CONTENT] = content if isinstance(content, str) else _dump(content)
        if doc.get("id") is not None:
            out[base + sc.OI_DOCUMENT_ID] = str(doc["id"])
        score = doc.get("score")
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            out[base + sc.OI_DOCUMENT_SCORE] = float(score)
        if doc.get("metadata"):
            out[base + sc.OI_DOCUMENT_METADATA] = _dump(doc["metadata"])


def _mime(value: Any, decoded: Any) -> str:
    return sc.MIME_JSON if isinstance(value, str) and isinstance(decoded, (dict, list)) else sc.MIME_TEXT


def _openinference(view: _View, out: dict[str, Any]) -> None:
    attrs, kind = view.attrs, view.kind
    out[sc.OI_SPAN_KIND] = _OI_KIND.get(kind, sc.OI_KIND_CHAIN)
    _copy(view, sc.OPENINFERENCE_COPIES, out)
    for name, mime in ((sc.OI_INPUT_VALUE, sc.OI_INPUT_MIME_TYPE), (sc.OI_OUTPUT_VALUE, sc.OI_OUTPUT_MIME_TYPE)):
        if name in attrs:
            out[mime] = _mime(attrs[name], view.json(name))
    tags = list(dict.fromkeys([*(attrs.get(sc.TAG_VALUES) or ()), *(attrs.get(sc.TAGS) or ())]))
    if tags:
        out[sc.TAG_VALUES] = tags
    metadata = view.session_metadata()
    if metadata:
        out[sc.OI_METADATA] = _dump(metadata)
    if kind is SpanKind.MODEL:
        for name, prefix in (
            (sc.OI_INPUT_VALUE, sc.OI_LLM_INPUT_MESSAGES),
            (sc.OI_OUTPUT_VALUE, sc.OI_LLM_OUTPUT_MESSAGES),
        ):
            messages = view.messages(name)
            if messages:
                _oi_messages(prefix, messages, out)
        tools = view.json(sc.GEN_AI_TOOL_DEFINITIONS)
        if isinstance(tools, list):
            for i, tool in enumerate(tools):
                if isinstance(tool, Mapping):
                    schema = {"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}}
                    out[f"{sc.OI_LLM_TOOLS}.{i}.{sc.OI_TOOL_JSON_SCHEMA}"] = _dump(schema)
    elif kind is SpanKind.EMBEDDING:
        model = attrs.get(sc.GEN_AI_RESPONSE_MODEL) or attrs.get(sc.GEN_AI_REQUEST_MODEL)
        if model:
            out[sc.OI_EMBEDDING_MODEL_NAME] = model
        texts = view.json(sc.OI_INPUT_VALUE)
        for i, text in enumerate([texts] if isinstance(texts, str) else texts if isinstance(texts, list) else ()):
            if isinstance(text, str):
                out[f"{sc.OI_EMBEDDING_EMBEDDINGS}.{i}.{sc.OI_EMBEDDING_TEXT}"] = text
    elif kind is SpanKind.RETRIEVAL:
        _oi_documents(sc.OI_RETRIEVAL_DOCUMENTS, view.json(sc.OI_OUTPUT_VALUE), out)
    elif kind is SpanKind.RERANKER:
        given = view.json(sc.OI_INPUT_VALUE)
        if isinstance(given, Mapping):
            if isinstance(given.get("query"), str):
                out[sc.OI_RERANKER_QUERY] = given["query"]
            if isinstance(given.get("model"), str):
                out[sc.OI_RERANKER_MODEL_NAME] = given["model"]
            if isinstance(given.get("top_k"), int):
                out[sc.OI_RERANKER_TOP_K] = given["top_k"]
            _oi_documents(sc.OI_RERANKER_INPUT_DOCUMENTS, given.get("documents"), out)
        _oi_documents(sc.OI_RERANKER_OUTPUT_DOCUMENTS, view.json(sc.OI_OUTPUT_VALUE), out)


# -- Langfuse --------------------------------------------------------------------------------------------


def _langfuse(view: _View, out: dict[str, Any]) -> None:
    attrs = view.attrs
    out[sc.LANGFUSE_OBSERVATION_TYPE] = _LANGFUSE_TYPE.get(view.kind, "span")
    environment = attrs.get(sc.DEPLOYMENT_ENVIRONMENT)
    if environment:
        out[sc.LANGFUSE_ENVIRONMENT] = environment
    if sc.OI_LLM_INVOCATION_PARAMETERS in attrs:
        out[sc.LANGFUSE_MODEL_PARAMETERS] = attrs[sc.OI_LLM_INVOCATION_PARAMETERS]
    session_tags = attrs.get(sc.TAGS) or ()
    root = bool(attrs.get(sc.TRACE_ROOT))
    tags = list(dict.fromkeys([*session_tags, *((attrs.get(sc.TAG_VALUES) or ()) if root else ())]))
    if tags:
        out[sc.LANGFUSE_TRACE_TAGS] = tags
    for key, value in view.session_metadata().items():
        out[sc.LANGFUSE_TRACE_METADATA_PREFIX + key] = value
    if root:
        if view.name:
            out[sc.LANGFUSE_TRACE_NAME] = view.name
        if sc.OI_INPUT_VALUE in attrs:
            out[sc.LANGFUSE_TRACE_INPUT] = attrs[sc.OI_INPUT_VALUE]
        if sc.OI_OUTPUT_VALUE in attrs:
            out[sc.LANGFUSE_TRACE_OUTPUT] = attrs[sc.OI_OUTPUT_VALUE]
