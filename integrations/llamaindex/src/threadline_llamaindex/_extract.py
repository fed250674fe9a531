"""Reading LlamaIndex objects: arguments, messages, responses, usage, models, memories.

Everything here is defensive attribute access on duck-typed objects: nothing
imports LlamaIndex, and an unexpected shape yields ``None``, never an error.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from typing import Any

from threadline.usage import Usage, usage_from_any

_MISSING = object()

# llama_index.llms.<package> / llama_index.embeddings.<package> -> gen_ai.provider.name
_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "azure_openai": "azure.ai.openai",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "gemini": "gcp.gemini",
    "google_genai": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "mistralai": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "cohere": "cohere",
    "ollama": "ollama",
    "huggingface": "huggingface",
}
_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
DEFAULT_CHAT_STORE_KEY = "chat_history"  # llama_index.core.memory.types.DEFAULT_CHAT_STORE_KEY


def get(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` otherwise; ``default`` when absent or failing."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    try:
        value = getattr(obj, key, _MISSING)
        if value is _MISSING:
            return obj.get(key, default) if isinstance(obj, Mapping) else default
        return value
    except Exception:  # properties of user objects may raise
        return default


def field(obj: Any, key: str) -> Any:
    """An instance attribute read from ``__dict__`` (where pydantic keeps fields): no property
    runs and a missing name costs no exception."""
    try:
        return vars(obj).get(key)
    except TypeError:
        return get(obj, key)


def _arguments(bound_args: Any) -> Any:
    """``bound_args.arguments`` (an ``inspect.BoundArguments``, as the dispatcher passes), else :func:`get`."""
    try:
        return bound_args.arguments
    except Exception:
        return get(bound_args, "arguments")


def argument(bound_args: Any, name: str, index: int = 0) -> Any:
    """A call argument by name, or by position in ``*args``, or in ``**kwargs``."""
    arguments = _arguments(bound_args)
    if type(arguments) is not dict and not isinstance(arguments, Mapping):
        return None
    value = arguments.get(name, _MISSING)
    if value is not _MISSING:
        return value
    args = arguments.get("args")
    if isinstance(args, tuple) and len(args) > index:
        return args[index]
    kwargs = arguments.get("kwargs")
    if isinstance(kwargs, Mapping):
        return kwargs.get(name)
    return None


def tool_arguments(bound_args: Any) -> Any:
    """A tool call's arguments: its keyword arguments, or its positional ones."""
    arguments = _arguments(bound_args)
    if not isinstance(arguments, Mapping):
        return None
    kwargs = arguments.get("kwargs")
    args = arguments.get("args")
    if isinstance(kwargs, Mapping) and kwargs:
        return dict(kwargs)
    if isinstance(args, tuple) and args:
        return args[0] if len(args) == 1 else list(args)
    rest = {k: v for k, v in arguments.items() if k not in ("args", "kwargs")}
    return rest or None


def query_text(query: Any) -> Any:
    """The text of a ``str`` or ``QueryBundle``."""
    if query is None or isinstance(query, str):
        return query
    text = get(query, "query_str")
    return text if isinstance(text, str) else None


def _content(message: Any) -> Any:
    try:
        return message.content
    except Exception:
        return None


def _role(message: Any) -> Any:
    role = get(message, "role")
    return get(role, "value", role)


def tool_calls(message: Any) -> list[dict[str, Any]]:
    """The tool calls a chat message asks for (LlamaIndex blocks or OpenAI-style kwargs)."""
    calls: list[dict[str, Any]] = []
    for block in get(message, "blocks") or ():
        if type(block).__name__ == "ToolCallBlock":
            calls.append(
                {
                    "id": get(block, "tool_call_id"),
                    "name": get(block, "tool_name"),
                    "arguments": get(block, "tool_kwargs"),
                }
            )
    if calls:
        return calls
    extra = get(message, "additional_kwargs") or {}
    for call in get(extra, "tool_calls") or ():
        function = get(call, "function")
        calls.append({"id": get(call, "id"), "name": get(function, "name"), "arguments": get(function, "arguments")})
    return calls


def message(msg: Any) -> dict[str, Any]:
    """A compact ``{"role", "content"[, "tool_calls"]}`` view of a ``ChatMessage``."""
    out: dict[str, Any] = {"role": _role(msg), "content": _content(msg)}
    calls = tool_calls(msg)
    if calls:
        out["tool_calls"] = calls
    return out


def messages(msgs: Any) -> list[dict[str, Any]] | None:
    """Compact views of a sequence of chat messages."""
    if msgs is None:
        return None
    try:
        return [message(m) for m in msgs]
    except TypeError:
        return None


def provider_of(cls: type) -> str | None:
    """``gen_ai.provider.name`` for a LlamaIndex LLM / embedding class, from its package."""
    parts = (getattr(cls, "__module__", "") or "").split(".")
    if len(parts) >= 3 and parts[0] == "llama_index" and parts[1] in ("llms", "embeddings"):
        return _PROVIDERS.get(parts[2])
    return None


def _model_name(value: Any) -> str | None:
    if isinstance(value, str) and value and value != "unknown":
        return value
    return None


_no_metadata_model: weakref.WeakSet[type] = weakref.WeakSet()


def model_of(instance: Any) -> str | None:
    """The model name an LLM or embedding object is configured with.

    Its ``model`` / ``model_name`` field, else ``metadata.model_name`` (a
    property many LLMs rebuild on every access: a class whose metadata names
    no model is not asked again).
    """
    for attr in ("model", "model_name"):
        name = _model_name(field(instance, attr))
        if name:
            return name
    cls = type(instance)
    if cls in _no_metadata_model:
        return None
    try:
        # Some LLMs compute metadata from the model name and raise on unknown ones.
        name = _model_name(instance.metadata.model_name)
    except Exception:
        name = None
    if name is None:
        try:
            _no_metadata_model.add(cls)
        except TypeError:
            pass
    return name


def number(value: Any, kind: type) -> Any:
    """``value`` when it is a real number of ``kind`` (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if kind is int:
        return value if isinstance(value, int) and value > 0 else None
    return float(value)


# --- usage ----------------------------------------------------------------------------------------
def _gemini_usage(meta: Any) -> Usage | None:
    prompt = get(meta, "prompt_token_count")
    candidates = get(meta, "candidates_token_count")
    if not isinstance(prompt, int) and not isinstance(candidates, int):
        return None
    thoughts = get(meta, "thoughts_token_count")
    out = None
    if isinstance(candidates, int) or isinstance(thoughts, int):
        out = (candidates or 0) + (thoughts if isinstance(thoughts, int) else 0)
    cached = get(meta, "cached_content_token_count")
    total = get(meta, "total_token_count")
    return Usage(
        input_tokens=prompt if isinstance(prompt, int) else None,
        output_tokens=out,
        cache_read_tokens=cached if isinstance(cached, int) else None,
        reasoning_tokens=thoughts if isinstance(thoughts, int) else None,
        total_tokens=total if isinstance(total, int) else None,
    )


def _bedrock_usage(usage: Any) -> Usage | None:
    inp, out = get(usage, "inputTokens"), get(usage, "outputTokens")
    if not isinstance(inp, int) and not isinstance(out, int):
        return None
    read, write = get(usage, "cacheReadInputTokens"), get(usage, "cacheWriteInputTokens")
    total = get(usage, "totalTokens")
    return Usage(
        input_tokens=inp if isinstance(inp, int) else None,
        output_tokens=out if isinstance(out, int) else None,
        cache_read_tokens=read if isinstance(read, int) else None,
        cache_write_tokens=write if isinstance(write, int) else None,
        total_tokens=total if isinstance(total, int) else None,
    )


def _from_usage_object(usage: Any) -> Usage | None:
    if usage is None:
        return None
    if get(usage, "inputTokens") is not None or get(usage, "outputTokens") is not None:
        return _bedrock_usage(usage)
    found = usage_from_any(usage)
    return None if found is None or found.is_empty else found


def usage_from_raw(raw: Any) -> Usage | None:
    """Usage in a provider response as LlamaIndex keeps it in ``raw`` (object or dict).

    OpenAI (``usage`` with ``prompt_tokens_details`` / ``completion_tokens_details``),
    Anthropic (``usage``, or ``message.usage`` on a ``message_start`` stream event),
    Gemini (``usage_metadata``), Bedrock Converse (``usage.inputTokens``) and
    Ollama (``prompt_eval_count`` / ``eval_count``).
    """
    if raw is None:
        return None
    found = _from_usage_object(get(raw, "usage"))
    if found is not None:
        return found
    found = _from_usage_object(get(get(raw, "message"), "usage"))
    if found is not None:
        return found
    meta = get(raw, "usage_metadata")
    if meta is not None:
        return _gemini_usage(meta)
    prompt, completion = get(raw, "prompt_eval_count"), get(raw, "eval_count")
    if isinstance(prompt, int) or isinstance(completion, int):
        return Usage(
            input_tokens=prompt if isinstance(prompt, int) else None,
            output_tokens=completion if isinstance(completion, int) else None,
        )
    return None


def usage_from_kwargs(extra: Any) -> Usage | None:
    """Usage LlamaIndex LLMs copy into ``additional_kwargs`` (``prompt_tokens`` ... or ``input_tokens`` ...)."""
    if not isinstance(extra, Mapping) or not extra:
        return None
    if not any(k in extra for k in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens")):
        return None
    found = usage_from_any(extra)
    return None if found is None or found.is_empty else found


def usage_of(response: Any) -> Usage | None:
    """Token usage of a ``ChatResponse`` / ``CompletionResponse``: ``raw`` first, then ``additional_kwargs``."""
    if response is None:
        return None
    found = usage_from_raw(get(response, "raw"))
    if found is None:
        found = usage_from_kwargs(get(response, "additional_kwargs"))
    if found is None:
        found = usage_from_kwargs(get(get(response, "message"), "additional_kwargs"))
    return found


def merge_usage(old: Usage | None, new: Usage | None) -> Usage | None:
    """Usage reported across stream chunks: later fields win, earlier ones fill the gaps.

    Anthropic reports input tokens on ``message_start`` and output tokens on
    ``message_delta``; OpenAI reports all of it on the last chunk.
    """
    if old is None:
        return new
    if new is None:
        return old

    def pick(field: str) -> Any:
        value = getattr(new, field)
        return value if value is not None else getattr(old, field)

    return Usage(
        input_tokens=pick("input_tokens"),
        output_tokens=pick("output_tokens"),
        cache_read_tokens=pick("cache_read_tokens"),
        cache_write_tokens=pick("cache_write_tokens"),
        reasoning_tokens=pick("reasoning_tokens"),
        total_tokens=new.total_tokens,
    )


def response_model(raw: Any) -> str | None:
    """The model that answered, as the provider reports it."""
    for candidate in (get(raw, "model"), get(get(raw, "message"), "model"), get(raw, "model_version")):
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def response_id(raw: Any) -> str | None:
    """The provider's response id."""
    for candidate in (get(raw, "id"), get(get(raw, "message"), "id")):
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def finish_reasons(raw: Any) -> list[str] | None:
    """Finish reasons: OpenAI ``choices[*].finish_reason`` or Anthropic ``stop_reason``."""
    reasons: list[str] = []
    choices = get(raw, "choices")
    if isinstance(choices, (list, tuple)):
        for choice in choices:
            reason = get(choice, "finish_reason")
            if isinstance(reason, str) and reason:
                reasons.append(reason)
    for holder in (raw, get(raw, "delta")):
        reason = get(holder, "stop_reason")
        if isinstance(reason, str) and reason:
            reasons.append(reason)
    return reasons or None


# --- sessions ---------------------------------------------------------------------------------------
def _user_given_session_id(memory: Any) -> str | None:
    value = get(memory, "session_id")
    if not isinstance(value, str) or not value:
        return None
    fields_set = get(memory, "model_fields_set")
    if isinstance(fields_set, (set, frozenset)) and "session_id" not in fields_set:
        return None  # the default factory made it
    if _UUID4.match(value):
        return None  # what Memory.from_defaults() generates when no session_id is given
    return value


def memory_session_id(memory: Any, _depth: int = 0) -> str | None:
    """The conversation id a LlamaIndex memory stores its history under, if the user chose it.

    ``Memory.session_id`` when the user gave one (LlamaIndex otherwise generates
    a random UUID4), then ``chat_store_key`` of a chat-store memory
    (``ChatMemoryBuffer``, ``ChatSummaryMemoryBuffer``) when it is not the default
    ``"chat_history"``; a ``SimpleComposableMemory`` is read through its primary memory.
    """
    if memory is None or _depth > 3:
        return None
    found = _user_given_session_id(memory)
    if found:
        return found
    key = get(memory, "chat_store_key")
    if isinstance(key, str) and key and key != DEFAULT_CHAT_STORE_KEY:
        return key
    primary = get(memory, "primary_memory")
    if primary is not None and primary is not memory:
        return memory_session_id(primary, _depth + 1)
    return None


def chat_engine_memory(engine: Any) -> Any:
    """The memory of a chat engine (``_memory`` on the built-in engines)."""
    memory = get(engine, "_memory")
    return memory if memory is not None else get(engine, "memory")
