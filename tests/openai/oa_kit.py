"""Shared helpers of the OpenAI tests: one way to call plain / raw / streaming-response, costs, attributes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai
import pytest
from openai._legacy_response import LegacyAPIResponse
from openai._response import APIResponse, AsyncAPIResponse

from tests.kit import attrs as attrs  # re-exported: the OpenAI tests import it from here
from threadline import semconv as sc

API_KEY = "sk-test-not-a-real-key"
MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
MODES = ("plain", "raw", "streaming_response")


def expected_cost(
    model: str, input_tokens: int, output_tokens: int, cached: int = 0, provider: str = "openai"
) -> float:
    """The USD price genai-prices gives for this usage (input includes the cached tokens)."""
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached or None)
    price = calc_price(usage, model_ref=model, provider_id=provider)
    return float(Decimal(price.total_price))


def only_span_attrs(spans: Any, name: str) -> dict[str, Any]:
    """The attributes of the one span the call finished, which must be named ``name``."""
    (span,) = spans.finished()
    assert span.name == name
    return attrs(span)


def assert_usage(a: dict[str, Any], model: str, input_tokens: int, output_tokens: int | None) -> None:
    """A span's tokens (no output count for ``None``, as for embeddings), their total and their cost to the cent."""
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == input_tokens
    if output_tokens is None:
        assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in a
    else:
        assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == output_tokens
    assert a[sc.GEN_AI_USAGE_TOTAL_TOKENS] == input_tokens + (output_tokens or 0)
    expected = expected_cost(model, input_tokens, output_tokens or 0)
    assert a[sc.GEN_AI_USAGE_COST] == pytest.approx(expected, rel=1e-9)


async def collect(result: Any) -> Any:
    """Consume a stream (asserting the SDK's own type) into a list; anything else as is."""
    if type(result) is openai.Stream:
        return list(result)
    if type(result) is openai.AsyncStream:
        return [item async for item in result]
    assert not isinstance(result, (openai.Stream, openai.AsyncStream)), f"stream type changed: {type(result)}"
    return result


async def invoke(resource: Any, mode: str, is_async: bool, method: str = "create", **kwargs: Any) -> Any:
    """Call ``resource.<method>`` plainly, through ``with_raw_response`` or ``with_streaming_response``.

    Returns what the user ends up with: the parsed object, or the list of
    stream items (consumed inside the ``with`` block for streaming responses).
    """
    if mode == "plain":
        out = getattr(resource, method)(**kwargs)
        if is_async:
            out = await out
        return await collect(out)
    if mode == "raw":
        raw = getattr(resource.with_raw_response, method)(**kwargs)
        if is_async:
            raw = await raw
        assert type(raw) is LegacyAPIResponse, type(raw)
        assert raw.headers.get("x-request-id", "").startswith("req_")
        return await collect(raw.parse())
    assert mode == "streaming_response"
    manager = getattr(resource.with_streaming_response, method)(**kwargs)
    if is_async:
        async with manager as response:
            assert type(response) is AsyncAPIResponse, type(response)
            return await collect(await response.parse())
    with manager as response:
        assert type(response) is APIResponse, type(response)
        return await collect(response.parse())


def chat_text(chunks: list[Any]) -> str:
    """The text of a streamed chat completion."""
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def model_spans(spans: Any) -> list[Any]:
    """Finished model spans (chat and text completions, Responses calls)."""
    return spans.of_kind("model")


def http_module() -> Any:
    """The HTTP library this SDK major sends with (``httpx2`` on openai 3.x, ``httpx`` on 2.x)."""
    import importlib

    return importlib.import_module("httpx2" if openai.__version__.startswith("3.") else "httpx")
