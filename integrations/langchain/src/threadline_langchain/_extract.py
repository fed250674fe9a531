"""Reading LangChain objects: run inputs and outputs, model parameters, results, usage, documents.

Never raises on an unexpected shape. Messages are read by :mod:`._messages`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from threadline.content import ContentPolicy
from threadline.records import invocation_parameters, tool_definitions
from threadline.usage import Usage, usage_from_any, usage_from_langchain, usage_from_openai, with_details_from
from threadline_langchain._messages import is_message, message_dict, messages_text

# LangChain ``ls_provider`` values -> ``gen_ai.provider.name`` values.
_PROVIDERS = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "anthropic-bedrock": "aws.bedrock",
    "anthropic-mantle": "aws.bedrock",
    "openai-mantle": "aws.bedrock",
    "google_genai": "gcp.gemini",
    "google": "gcp.gemini",
    "google_vertexai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "ibm": "ibm.watsonx.ai",
}


def provider_name(raw: Any) -> str | None:
    """The ``gen_ai.provider.name`` for a LangChain provider id (unknown ones pass through)."""
    if not isinstance(raw, str) or not raw:
        return None
    return _PROVIDERS.get(raw.lower(), raw.lower())


def messages_view(messages: Any, content: ContentPolicy | None = None) -> Any:
    """:func:`message_dict` over a list of messages; given the content policy, their text where it can be made.

    The text (:func:`~threadline_langchain._messages.messages_text`) renders
    each message once across calls; without it, or where it cannot be made,
    the list of dicts the emitter renders.
    """
    if content is not None and isinstance(messages, (list, tuple)):
        text = messages_text(messages, content)
        if text is not None:
            return text
    if isinstance(messages, (list, tuple)):
        return [message_dict(m) for m in messages]
    return message_dict(messages)


_SCALARS = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)


def io_view(value: Any) -> Any:
    """A chain input or output for capture: messages are shown compactly, the rest as is."""
    if isinstance(value, _SCALARS):
        return value
    if is_message(value):
        return message_dict(value)
    if isinstance(value, list):
        if value and is_message(value[0]):
            return [message_dict(v) for v in value]
        return value
    if isinstance(value, dict):
        out = None
        for key, item in value.items():
            if type(item) in _SCALAR_TYPES:
                continue
            if is_message(item) or (isinstance(item, list) and item and is_message(item[0])):
                if out is None:
                    out = dict(value)
                out[key] = io_view(item)
        return value if out is None else out
    if type(value).__name__.endswith("PromptValue"):  # ChatPromptValue, StringPromptValue
        try:
            return [message_dict(m) for m in value.to_messages()]
        except Exception:  # noqa: BLE001 - a look-alike
            return value
    return value


# -- models ---------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


class ModelParams:
    """What a chat model or LLM run says about itself when it starts."""

    __slots__ = ("provider", "model", "temperature", "max_tokens", "streamed", "name", "tools", "invocation_parameters")

    def __init__(
        self,
        serialized: Any,
        metadata: Mapping[str, Any] | None,
        invocation_params: Mapping[str, Any] | None,
        run_name: Any,
    ) -> None:
        md = metadata or {}
        params = invocation_params or {}
        self.provider = provider_name(md.get("ls_provider"))
        model = md.get("ls_model_name")
        if not isinstance(model, str) or not model:
            model = next(
                (
                    v
                    for k in ("model", "model_name", "model_id", "deployment_name")
                    if isinstance(v := params.get(k), str)
                ),
                None,
            )
        self.model: str | None = model or None
        temperature = md.get("ls_temperature", params.get("temperature"))
        self.temperature = _number(temperature)
        max_tokens = md.get("ls_max_tokens", params.get("max_tokens", params.get("max_completion_tokens")))
        self.max_tokens = _int(max_tokens)
        self.streamed = bool(params.get("stream") or params.get("streaming"))
        name = run_name if isinstance(run_name, str) and run_name else None
        if name is None and isinstance(serialized, Mapping):
            ids = serialized.get("id")
            if isinstance(ids, list) and ids and isinstance(ids[-1], str):
                name = ids[-1]
            elif isinstance(serialized.get("name"), str):
                name = serialized["name"]
        if name is None and isinstance(params.get("_type"), str):
            name = params["_type"]
        self.name = name or "chat_model"
        self.tools = tool_definitions(params.get("tools") or params.get("functions"))
        settings = invocation_parameters(params, _NOT_PARAMETERS) or {}
        for key, value in (("temperature", self.temperature), ("max_tokens", self.max_tokens)):
            if value is not None and key not in settings:  # known from LangChain's ls_* metadata only
                settings[key] = value
        self.invocation_parameters = settings or None


# Invocation parameters that are no setting of the call: its tools (recorded apart) and LangChain's own.
_NOT_PARAMETERS = frozenset({"tools", "functions", "_type", "messages", "stream", "streaming"})


class ModelResult:
    """What an ``LLMResult`` says: outputs, usage, model, response id, finish reasons."""

    __slots__ = ("outputs", "usage", "model", "response_id", "finish_reasons", "provider")

    def __init__(self, response: Any, *, chat: bool) -> None:
        generations = getattr(response, "generations", None) or []
        llm_output = getattr(response, "llm_output", None)
        llm_output = llm_output if isinstance(llm_output, Mapping) else {}
        first_choices: Sequence[Any] = generations[0] if generations and isinstance(generations[0], list) else []
        outputs: list[Any] = []
        finish: list[str] = []
        usage: Usage | None = None
        model = None
        response_id = None
        provider = None
        for gen in first_choices:
            message = getattr(gen, "message", None)
            info = getattr(gen, "generation_info", None) or {}
            meta = getattr(message, "response_metadata", None) or {}
            if message is not None:
                outputs.append(message_dict(message))
                if usage is None:
                    usage = usage_from_langchain(getattr(message, "usage_metadata", None))
            else:
                outputs.append(getattr(gen, "text", None))
            reason = info.get("finish_reason") or meta.get("finish_reason") or meta.get("stop_reason")
            if isinstance(reason, str):
                finish.append(reason)
            model = model or _str(meta.get("model_name")) or _str(meta.get("model")) or _str(info.get("model_name"))
            response_id = response_id or _str(meta.get("id"))
            provider = provider or _str(meta.get("model_provider"))
        raw = llm_output.get("token_usage") or llm_output.get("usage")
        if raw and (usage is None or usage.cache_read_tokens is None or usage.reasoning_tokens is None):
            # The provider's own usage: the whole usage when the message had none, else the details
            # an integration left out of ``usage_metadata`` (langchain-mistralai drops cached tokens).
            raw_usage = usage_from_openai(raw) if "token_usage" in llm_output else usage_from_any(raw)
            usage = with_details_from(usage, raw_usage)
        # Chat output is a list of messages (as the input is); a completion's text is itself.
        self.outputs: Any = outputs or None
        if not chat and outputs and all(isinstance(o, str) for o in outputs):
            self.outputs = outputs[0] if len(outputs) == 1 else outputs
        self.usage = usage
        self.model = model or _str(llm_output.get("model_name")) or _str(llm_output.get("model"))
        self.response_id = response_id or _str(llm_output.get("id"))
        self.finish_reasons = finish or None
        self.provider = provider_name(provider or llm_output.get("model_provider"))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- tools and retrievers ----------------------------------------------------------------------------


def tool_output(output: Any) -> Any:
    """A tool's result: a ``ToolMessage``'s content (with its artifact, if any), else the value."""
    if getattr(output, "type", None) == "tool" and hasattr(output, "content"):
        artifact = getattr(output, "artifact", None)
        if artifact is not None:
            return {"content": output.content, "artifact": artifact}
        return output.content
    update = getattr(output, "update", None)  # a Command returned by a tool
    if update is not None and type(output).__name__ == "Command":
        return {"update": io_view(update)}
    return io_view(output)


def documents_view(documents: Any) -> Any:
    """Retrieved documents as ``{"content", "metadata"}`` pairs."""
    if not isinstance(documents, (list, tuple)):
        return documents
    out = []
    for doc in documents:
        content = getattr(doc, "page_content", None)
        if content is None:
            out.append(doc)
            continue
        item: dict[str, Any] = {"content": content}
        metadata = getattr(doc, "metadata", None)
        if metadata:
            item["metadata"] = metadata
        doc_id = getattr(doc, "id", None)
        if doc_id:
            item["id"] = doc_id
        out.append(item)
    return out


def session_hints(metadata: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The run metadata, read by the emitter for session and user ids (by its configured keys)."""
    return metadata or None
