"""One normalised token usage type for every provider and framework."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one model call.

    ``input_tokens`` includes cached input (``cache_read_tokens`` and
    ``cache_write_tokens`` are parts of it); ``output_tokens`` includes
    reasoning. ``None`` means "not reported", never zero by guess.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None

    @property
    def is_empty(self) -> bool:
        """True when nothing at all was reported."""
        return self.input_tokens is None and self.output_tokens is None and self.total_tokens is None

    @property
    def total(self) -> int | None:
        """The reported total, or input + output when the provider gave none."""
        if self.total_tokens is not None:
            return self.total_tokens
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


_MISSING = object()


def value_of(obj: Any, key: str) -> Any:
    """``obj[key]`` or ``obj.key``; ``None`` when absent (for SDK response objects and dicts).

    A pydantic model (the SDKs' responses) is read from its field values and
    extra keys, not its properties: an absent key (``cache_creation_tokens`` on OpenAI's
    ``PromptTokensDetails``) would otherwise go through pydantic's
    ``__getattr__``, which raises and costs ~10x a hit, several times per call.
    """
    if obj is None:
        return None
    if type(obj) is dict:  # the common case, and much cheaper than an ABC isinstance check
        return obj.get(key)
    fields = getattr(obj, "__dict__", None)
    if fields is not None:
        value = fields.get(key, _MISSING)
        if value is not _MISSING:
            return value
        extra = getattr(obj, "__pydantic_extra__", _MISSING)
        if extra is not _MISSING:
            return extra.get(key) if extra else None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def usage_from_openai(usage: Any) -> Usage | None:
    """Normalise an OpenAI usage object or dict.

    Handles chat completions (``prompt_tokens`` / ``completion_tokens`` with
    ``prompt_tokens_details.cached_tokens`` and
    ``completion_tokens_details.reasoning_tokens``), the Responses API
    (``input_tokens`` / ``output_tokens`` with ``input_tokens_details`` and
    ``output_tokens_details``) and embeddings (``prompt_tokens`` only).
    """
    if usage is None:
        return None
    input_tokens = _int(value_of(usage, "prompt_tokens"))
    output_tokens = _int(value_of(usage, "completion_tokens"))
    in_details = value_of(usage, "prompt_tokens_details")
    out_details = value_of(usage, "completion_tokens_details")
    if input_tokens is None and output_tokens is None:
        input_tokens = _int(value_of(usage, "input_tokens"))
        output_tokens = _int(value_of(usage, "output_tokens"))
        in_details = value_of(usage, "input_tokens_details")
        out_details = value_of(usage, "output_tokens_details")
    total = _int(value_of(usage, "total_tokens"))
    if input_tokens is None and output_tokens is None and total is None:
        return None
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=_int(value_of(in_details, "cached_tokens")),
        cache_write_tokens=_int(value_of(in_details, "cache_creation_tokens")),
        reasoning_tokens=_int(value_of(out_details, "reasoning_tokens")),
        total_tokens=total,
    )


def usage_from_anthropic(usage: Any) -> Usage | None:
    """Normalise an Anthropic usage object or dict.

    Anthropic reports ``input_tokens`` *excluding* cache reads and writes; the
    normalised ``input_tokens`` adds them back so that it includes cached input.
    """
    if usage is None:
        return None
    raw_in = _int(value_of(usage, "input_tokens"))
    out = _int(value_of(usage, "output_tokens"))
    if raw_in is None and out is None:
        return None
    read = _int(value_of(usage, "cache_read_input_tokens"))
    write = _int(value_of(usage, "cache_creation_input_tokens"))
    total_in = None if raw_in is None else raw_in + (read or 0) + (write or 0)
    return Usage(
        input_tokens=total_in,
        output_tokens=out,
        cache_read_tokens=read,
        cache_write_tokens=write,
        total_tokens=None if total_in is None or out is None else total_in + out,
    )


def usage_from_langchain(usage_metadata: Any) -> Usage | None:
    """Normalise LangChain's ``UsageMetadata`` (``AIMessage.usage_metadata``).

    LangChain already reports input including cache, with
    ``input_token_details.cache_read`` / ``cache_creation`` and
    ``output_token_details.reasoning``.
    """
    if not usage_metadata:
        return None
    in_details = value_of(usage_metadata, "input_token_details")
    out_details = value_of(usage_metadata, "output_token_details")
    usage = Usage(
        input_tokens=_int(value_of(usage_metadata, "input_tokens")),
        output_tokens=_int(value_of(usage_metadata, "output_tokens")),
        cache_read_tokens=_int(value_of(in_details, "cache_read")),
        cache_write_tokens=_int(value_of(in_details, "cache_creation")),
        reasoning_tokens=_int(value_of(out_details, "reasoning")),
        total_tokens=_int(value_of(usage_metadata, "total_tokens")),
    )
    return None if usage.is_empty else usage


def usage_from_any(raw: Any) -> Usage | None:
    """Best-effort normalisation of a usage object whose shape is unknown.

    Tries LangChain's shape, then OpenAI's, then Anthropic's (recognised by its
    ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` keys).
    """
    if raw is None:
        return None
    if isinstance(raw, Usage):
        return raw
    if value_of(raw, "cache_read_input_tokens") is not None or value_of(raw, "cache_creation_input_tokens") is not None:
        return usage_from_anthropic(raw)
    if value_of(raw, "input_token_details") is not None or value_of(raw, "output_token_details") is not None:
        return usage_from_langchain(raw)
    return usage_from_openai(raw)
