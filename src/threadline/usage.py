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
    reasoning. ``cache_write_1h_tokens`` is the part of ``cache_write_tokens``
    written to a one-hour cache (Anthropic's extended TTL), priced at its own
    rate; the rest of the writes are five-minute writes. ``None`` means "not
    reported", never zero by guess.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    cache_write_1h_tokens: int | None = None

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
    write = _int(value_of(in_details, "cache_write_tokens"))
    if write is None:  # the key's name before OpenAI documented it; some compatible servers still send it
        write = _int(value_of(in_details, "cache_creation_tokens"))
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=_int(value_of(in_details, "cached_tokens")),
        cache_write_tokens=write,
        reasoning_tokens=_int(value_of(out_details, "reasoning_tokens")),
        total_tokens=total,
    )


def usage_from_anthropic(usage: Any) -> Usage | None:
    """Normalise an Anthropic usage object or dict.

    Anthropic reports ``input_tokens`` *excluding* cache reads and writes; the
    normalised ``input_tokens`` adds them back so that it includes cached input.
    Cache writes are ``cache_creation_input_tokens``, broken down by TTL in the
    ``cache_creation`` object (``ephemeral_5m_input_tokens`` /
    ``ephemeral_1h_input_tokens``); the two are the same writes, counted once.
    Thinking tokens (``output_tokens_details.thinking_tokens``) are part of
    ``output_tokens``.
    """
    if usage is None:
        return None
    raw_in = _int(value_of(usage, "input_tokens"))
    out = _int(value_of(usage, "output_tokens"))
    if raw_in is None and out is None:
        return None
    read = _int(value_of(usage, "cache_read_input_tokens"))
    breakdown = value_of(usage, "cache_creation")
    write, write_1h = _cache_writes(
        _int(value_of(usage, "cache_creation_input_tokens")),
        _int(value_of(breakdown, "ephemeral_5m_input_tokens")),
        _int(value_of(breakdown, "ephemeral_1h_input_tokens")),
    )
    total_in = None if raw_in is None else raw_in + (read or 0) + (write or 0)
    return Usage(
        input_tokens=total_in,
        output_tokens=out,
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=_int(value_of(value_of(usage, "output_tokens_details"), "thinking_tokens")),
        total_tokens=None if total_in is None or out is None else total_in + out,
        cache_write_1h_tokens=write_1h,
    )


def _cache_writes(total: int | None, five_min: int | None, one_hour: int | None) -> tuple[int | None, int | None]:
    """(all cache writes, one-hour writes) from a total and its per-TTL breakdown, counted once.

    Anthropic's ``cache_creation_input_tokens`` already is the sum of the
    breakdown; LangChain (langchain-anthropic, langchain-aws Converse) zeroes
    its generic ``cache_creation`` when it reports the breakdown. Either way the
    writes are the larger of the total and the breakdown's sum, never both added.
    """
    if five_min is None and one_hour is None:
        return total, None
    return max(total or 0, (five_min or 0) + (one_hour or 0)), one_hour


def usage_from_langchain(usage_metadata: Any) -> Usage | None:
    """Normalise LangChain's ``UsageMetadata`` (``AIMessage.usage_metadata``).

    LangChain already reports input including cache, with
    ``input_token_details.cache_read`` / ``cache_creation`` and
    ``output_token_details.reasoning``. Beyond that, what integrations report today:

    - Anthropic and Bedrock Converse put TTL-specific cache writes in
      ``ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens`` and then set
      ``cache_creation`` to 0; both are read, counted once.
    - ChatOpenAI on the ``priority`` / ``flex`` service tiers prefixes the
      details with the tier (``flex_cache_read``, ``priority_reasoning``).
    - langchain-google-vertexai reports ``output_tokens`` without the thinking
      tokens (``candidates_token_count``) while its ``total_tokens`` has them;
      when the total shows that, the reasoning is added back to the output.
    """
    if not usage_metadata:
        return None
    in_details = value_of(usage_metadata, "input_token_details")
    out_details = value_of(usage_metadata, "output_token_details")
    input_tokens = _int(value_of(usage_metadata, "input_tokens"))
    output_tokens = _int(value_of(usage_metadata, "output_tokens"))
    total = _int(value_of(usage_metadata, "total_tokens"))
    reasoning = _tiered(out_details, "reasoning")
    if (
        reasoning
        and input_tokens is not None
        and output_tokens is not None
        and total is not None
        and total >= input_tokens + output_tokens + reasoning
    ):
        output_tokens += reasoning  # the total counts thinking the output left out
    write, write_1h = _cache_writes(
        _tiered(in_details, "cache_creation"),
        _int(value_of(in_details, "ephemeral_5m_input_tokens")),
        _int(value_of(in_details, "ephemeral_1h_input_tokens")),
    )
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=_tiered(in_details, "cache_read"),
        cache_write_tokens=write,
        reasoning_tokens=reasoning,
        total_tokens=total,
        cache_write_1h_tokens=write_1h,
    )
    return None if usage.is_empty else usage


_SERVICE_TIERS = ("priority_", "flex_")


def _tiered(details: Any, key: str) -> int | None:
    """``details[key]``, plus its service-tier variants (``flex_cache_read``) ChatOpenAI reports instead."""
    found = _int(value_of(details, key))
    if details is None:
        return found
    for tier in _SERVICE_TIERS:
        value = _int(value_of(details, tier + key))
        if value is not None:
            found = (found or 0) + value
    return found


def with_details_from(usage: Usage | None, raw: Usage | None) -> Usage | None:
    """``usage`` with the cache and reasoning counts it lacks taken from ``raw``, the same call's provider usage.

    Some integrations drop details the provider reported (langchain-mistralai
    keeps only input, output and total in ``usage_metadata``, while the raw
    ``token_usage`` it also returns has ``prompt_tokens_details.cached_tokens``).
    Details are taken only when both agree on input and output, so that two
    different calls are never mixed.
    """
    if usage is None or raw is None:
        return usage or raw
    if (usage.input_tokens, usage.output_tokens) != (raw.input_tokens, raw.output_tokens):
        return usage
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens if usage.cache_read_tokens is not None else raw.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens if usage.cache_write_tokens is not None else raw.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens if usage.reasoning_tokens is not None else raw.reasoning_tokens,
        total_tokens=usage.total_tokens if usage.total_tokens is not None else raw.total_tokens,
        cache_write_1h_tokens=(
            usage.cache_write_1h_tokens if usage.cache_write_tokens is not None else raw.cache_write_1h_tokens
        ),
    )


_ANTHROPIC_KEYS = ("cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation")


def usage_from_any(raw: Any) -> Usage | None:
    """Best-effort normalisation of a usage object whose shape is unknown.

    Tries LangChain's shape, then OpenAI's, then Anthropic's (recognised by its
    ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` / ``cache_creation`` keys).
    """
    if raw is None:
        return None
    if isinstance(raw, Usage):
        return raw
    if any(value_of(raw, key) is not None for key in _ANTHROPIC_KEYS):
        return usage_from_anthropic(raw)
    if value_of(raw, "input_token_details") is not None or value_of(raw, "output_token_details") is not None:
        return usage_from_langchain(raw)
    return usage_from_openai(raw)
