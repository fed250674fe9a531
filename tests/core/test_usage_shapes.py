"""Usage shapes providers and LangChain integrations report, normalised once, priced as genai-prices prices them."""

from __future__ import annotations

from typing import Any

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price, extract_usage

from threadline.cost import ModelRate, Prices
from threadline.usage import Usage, usage_from_anthropic, usage_from_any, usage_from_langchain, usage_from_openai

CLAUDE = "claude-sonnet-4-5-20250929"


def _anthropic(**usage: Any) -> dict[str, Any]:
    return {"model": CLAUDE, "usage": usage}


# --- Anthropic's cache_creation breakdown ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        # Current responses: the total and its per-TTL breakdown.
        {
            "input_tokens": 50,
            "output_tokens": 10,
            "cache_read_input_tokens": 4000,
            "cache_creation_input_tokens": 1300,
            "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 300},
        },
        # The breakdown without the total.
        {
            "input_tokens": 50,
            "output_tokens": 10,
            "cache_read_input_tokens": 4000,
            "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 300},
        },
    ],
    ids=["total-and-breakdown", "breakdown-only"],
)
def test_anthropic_writes_are_counted_once_and_1h_writes_priced_at_their_rate(raw: dict[str, Any]) -> None:
    usage = usage_from_anthropic(raw)
    # The same counts for threadline's Usage and, to price them independently, genai-prices' own.
    tokens = {"input_tokens": 5350, "output_tokens": 10, "cache_read_tokens": 4000, "cache_write_tokens": 1300}
    assert usage == Usage(**tokens, total_tokens=5360, cache_write_1h_tokens=300)
    assert usage_from_any(raw) == usage
    expected = calc_price(PriceUsage(**tokens, cache_write_1h_tokens=300), CLAUDE, provider_id="anthropic")
    cost = Prices().cost("anthropic", CLAUDE, usage)
    assert cost is not None
    assert cost.total == pytest.approx(float(expected.total_price), abs=1e-12)
    assert cost.input == pytest.approx(float(expected.input_price), abs=1e-12)
    # One-hour writes cost more than five-minute ones: pricing them all at the 5-minute rate is cheaper.
    all_5m = Usage(input_tokens=5350, output_tokens=10, cache_read_tokens=4000, cache_write_tokens=1300)
    flat = Prices().cost("anthropic", CLAUDE, all_5m)
    assert flat is not None and cost.total > flat.total


def test_anthropic_thinking_tokens_are_reasoning_inside_the_output() -> None:
    raw = {"input_tokens": 10, "output_tokens": 900, "output_tokens_details": {"thinking_tokens": 700}}
    usage = usage_from_anthropic(raw)
    assert usage is not None
    assert (usage.output_tokens, usage.reasoning_tokens) == (900, 700)
    assert usage.input_tokens == extract_usage(_anthropic(**raw), provider_id="anthropic").usage.input_tokens


@pytest.mark.parametrize(
    ("details", "write", "write_1h"),
    [
        # langchain-anthropic / Bedrock Converse with a TTL breakdown: cache_creation is zeroed.
        (
            {"cache_read": 0, "cache_creation": 0, "ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 100},
            300,
            100,
        ),
        # A reader that keeps both the total and the breakdown must still count the writes once.
        ({"cache_creation": 300, "ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 100}, 300, 100),
        # No breakdown (a streamed Anthropic call: message_delta has none).
        ({"cache_creation": 300}, 300, None),
    ],
    ids=["zeroed-total", "total-and-breakdown", "total-only"],
)
def test_langchain_cache_writes_from_either_breakdown(
    details: dict[str, int], write: int, write_1h: int | None
) -> None:
    usage = usage_from_langchain(
        {"input_tokens": 330, "output_tokens": 5, "total_tokens": 335, "input_token_details": details}
    )
    assert usage is not None
    assert (usage.input_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens) == (330, write, write_1h)


# --- other shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tier", ["flex", "priority"])
def test_chatopenai_service_tier_details_are_read(tier: str) -> None:
    # langchain_openai.chat_models.base._create_usage_metadata prefixes details with the service tier.
    usage = usage_from_langchain(
        {
            "input_tokens": 1000,
            "output_tokens": 400,
            "total_tokens": 1400,
            "input_token_details": {"audio": 0, f"{tier}_cache_read": 600, tier: 400},
            "output_token_details": {"audio": 0, f"{tier}_reasoning": 300, tier: 100},
        }
    )
    assert usage is not None
    assert (usage.cache_read_tokens, usage.reasoning_tokens, usage.output_tokens) == (600, 300, 400)


def test_vertex_output_without_thinking_gets_it_back_from_the_total() -> None:
    # langchain_google_vertexai._get_usage_metadata_gemini: output is candidates only, total has the thoughts.
    vertex = usage_from_langchain(
        {"input_tokens": 100, "output_tokens": 20, "total_tokens": 170, "output_token_details": {"reasoning": 50}}
    )
    assert vertex is not None and (vertex.output_tokens, vertex.reasoning_tokens) == (70, 50)
    # The usual shape (output already includes reasoning) is left as reported.
    genai = usage_from_langchain(
        {"input_tokens": 100, "output_tokens": 70, "total_tokens": 170, "output_token_details": {"reasoning": 50}}
    )
    assert genai is not None and genai.output_tokens == 70


def test_openai_cache_write_tokens() -> None:
    raw = {
        "prompt_tokens": 3000,
        "completion_tokens": 20,
        "total_tokens": 3020,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 2048},
    }
    usage = usage_from_openai(raw)
    assert usage is not None and usage.cache_write_tokens == 2048
    reference = extract_usage({"model": "gpt-5", "usage": raw}, provider_id="openai", api_flavor="chat")
    assert usage.cache_write_tokens == reference.usage.cache_write_tokens


def test_an_override_prices_1h_writes_at_its_own_rate() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=0, cache_write_tokens=600_000, cache_write_1h_tokens=200_000)
    prices = Prices({"m": ModelRate(input=1.0, output=2.0, cache_write=1.25, cache_write_1h=2.0)})
    cost = prices.cost(None, "m", usage)
    assert cost is not None and cost.input == pytest.approx(0.4 * 1.0 + 0.4 * 1.25 + 0.2 * 2.0)
    without = Prices({"m": ModelRate(input=1.0, output=2.0, cache_write=1.25)}).cost(None, "m", usage)
    assert without is not None and without.input == pytest.approx(0.4 * 1.0 + 0.6 * 1.25)
