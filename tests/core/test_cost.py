"""USD cost against genai-prices' own results, overrides, dated snapshots and unknown models."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price, extract_usage

import threadline
from threadline import semconv as sc
from threadline.cost import ModelRate, Prices
from threadline.integration import current_emitter
from threadline.records import ModelCall
from threadline.testing import CapturedSpans, capture
from threadline.usage import Usage, usage_from_anthropic, usage_from_openai


def _call(provider: str | None, model: str, usage: Usage | None, *, response_model: str | None = None) -> None:
    emitter = current_emitter()
    handle = emitter.start(ModelCall(name="chat", provider=provider, request_model=model))
    handle.record.response_model = response_model
    handle.record.usage = usage
    emitter.end(handle)


def _price_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "no price known" in r.getMessage()]


# --- the three reference cases, end to end through spans -----------------------------------


def test_gpt_4o_mini_with_cached_input(spans: CapturedSpans) -> None:
    # As the OpenAI chat completions API reports it.
    raw = {
        "prompt_tokens": 2048,
        "completion_tokens": 312,
        "total_tokens": 2360,
        "prompt_tokens_details": {"cached_tokens": 1536, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    _call("openai", "gpt-4o-mini", usage_from_openai(raw), response_model="gpt-4o-mini-2024-07-18")
    expected = calc_price(
        PriceUsage(input_tokens=2048, cache_read_tokens=1536, output_tokens=312), "gpt-4o-mini", provider_id="openai"
    )
    attrs = spans.one("chat gpt-4o-mini").attributes
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 2048
    assert attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1536
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 312
    assert attrs[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 2360
    assert attrs[sc.GEN_AI_USAGE_COST] == pytest.approx(float(expected.total_price), abs=1e-12)
    assert attrs[sc.COST_INPUT] == pytest.approx(float(expected.input_price), abs=1e-12)
    assert attrs[sc.COST_OUTPUT] == pytest.approx(float(expected.output_price), abs=1e-12)
    assert attrs[sc.OI_LLM_COST_TOTAL] == attrs[sc.GEN_AI_USAGE_COST]
    assert attrs[sc.OI_LLM_COST_PROMPT] == attrs[sc.COST_INPUT]
    assert attrs[sc.OI_LLM_COST_COMPLETION] == attrs[sc.COST_OUTPUT]
    # Cached input is cheaper: pricing it all as fresh input would cost more.
    fresh = calc_price(PriceUsage(input_tokens=2048, output_tokens=312), "gpt-4o-mini", provider_id="openai")
    assert attrs[sc.GEN_AI_USAGE_COST] < float(fresh.total_price)


def test_claude_sonnet_with_cache_read_and_write(spans: CapturedSpans) -> None:
    # As the Anthropic Messages API reports it: input_tokens excludes the cache.
    response = {
        "model": "claude-sonnet-4-5-20250929",
        "usage": {
            "input_tokens": 1200,
            "output_tokens": 480,
            "cache_read_input_tokens": 20_000,
            "cache_creation_input_tokens": 3_000,
        },
    }
    _call("anthropic", "claude-sonnet-4-5", usage_from_anthropic(response["usage"]), response_model=response["model"])
    expected = extract_usage(response, provider_id="anthropic")
    price = expected.calc_price()
    attrs = spans.one("chat claude-sonnet-4-5").attributes
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == expected.usage.input_tokens == 24_200
    assert attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 20_000
    assert attrs[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 3_000
    assert attrs[sc.GEN_AI_USAGE_COST] == pytest.approx(float(price.total_price), abs=1e-12)
    assert attrs[sc.COST_INPUT] == pytest.approx(float(price.input_price), abs=1e-12)
    assert attrs[sc.COST_OUTPUT] == pytest.approx(float(price.output_price), abs=1e-12)


def test_reasoning_model_counts_reasoning_as_output(spans: CapturedSpans) -> None:
    raw = {
        "prompt_tokens": 900,
        "completion_tokens": 2600,
        "total_tokens": 3500,
        "completion_tokens_details": {"reasoning_tokens": 2200},
    }
    _call("openai", "o3-mini", usage_from_openai(raw), response_model="o3-mini-2025-01-31")
    expected = calc_price(PriceUsage(input_tokens=900, output_tokens=2600), "o3-mini", provider_id="openai")
    attrs = spans.one("chat o3-mini").attributes
    assert attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 2200
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2600
    assert attrs[sc.GEN_AI_USAGE_COST] == pytest.approx(float(expected.total_price), abs=1e-12)
    assert attrs[sc.COST_OUTPUT] == pytest.approx(float(expected.output_price), abs=1e-12)


# --- the price table itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "price_provider"),
    [
        ("openai", "gpt-4o-mini", "openai"),
        ("openai", "gpt-4o-mini-2024-07-18", "openai"),
        ("anthropic", "claude-sonnet-4-5-20250929", "anthropic"),
        ("anthropic", "claude-3-7-sonnet-20250219", "anthropic"),
        ("openai", "o3-mini-2025-01-31", "openai"),
        ("gcp.gemini", "gemini-2.5-pro", "google"),
        (None, "gpt-4o-mini", None),
    ],
)
@pytest.mark.parametrize("input_tokens", [1_000, 250_000])  # 250k crosses the long-context tiers
def test_prices_match_genai_prices(
    provider: str | None, model: str, price_provider: str | None, input_tokens: int
) -> None:
    usage = Usage(input_tokens=input_tokens, output_tokens=1_000, cache_read_tokens=input_tokens // 2)
    cost = Prices().cost(provider, model, usage)
    expected = calc_price(
        PriceUsage(input_tokens=input_tokens, output_tokens=1_000, cache_read_tokens=input_tokens // 2),
        model,
        provider_id=price_provider,
    )
    assert cost is not None
    assert cost.total == pytest.approx(float(expected.total_price), abs=1e-12)
    assert cost.input == pytest.approx(float(expected.input_price), abs=1e-12)
    assert cost.output == pytest.approx(float(expected.output_price), abs=1e-12)


def test_dated_snapshots_cost_the_same_as_their_alias() -> None:
    usage = Usage(input_tokens=10_000, output_tokens=2_000, cache_read_tokens=4_000)
    prices = Prices()
    assert prices.cost("openai", "gpt-4o-mini-2024-07-18", usage) == prices.cost("openai", "gpt-4o-mini", usage)
    assert prices.cost("anthropic", "claude-sonnet-4-5-20250929", usage) == prices.cost(
        "anthropic", "claude-sonnet-4-5", usage
    )


def test_rates_are_cached_per_provider_and_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import genai_prices.data_snapshot as data_snapshot

    real = data_snapshot.get_snapshot
    lookups: list[Any] = []

    def counting() -> Any:
        lookups.append(1)
        return real()

    monkeypatch.setattr(data_snapshot, "get_snapshot", counting)
    prices = Prices()
    usage = Usage(input_tokens=100, output_tokens=10)
    first = prices.cost("openai", "gpt-4o-mini", usage)
    for _ in range(50):
        assert prices.cost("openai", "gpt-4o-mini", usage) == first
    assert len(lookups) == 1
    prices.cost("anthropic", "claude-sonnet-4-5", usage)
    assert len(lookups) == 2


def test_no_usage_means_no_cost() -> None:
    prices = Prices()
    assert prices.cost("openai", "gpt-4o-mini", None) is None
    assert prices.cost("openai", "gpt-4o-mini", Usage()) is None
    assert prices.cost("openai", None, Usage(input_tokens=1)) is None


# --- overrides -----------------------------------------------------------------------------------


def test_user_overrides_in_usd_per_million_tokens() -> None:
    usage = Usage(
        input_tokens=2_000_000, output_tokens=500_000, cache_read_tokens=1_000_000, cache_write_tokens=200_000
    )
    prices = Prices(
        {
            "my-finetune": {"input": 2.0, "output": 8.0, "cache_read": 0.5, "cache_write": 2.5},
            "flat-model": ModelRate(input=1.0, output=3.0),
        }
    )
    cost = prices.cost(None, "my-finetune", usage)
    assert cost is not None
    # 800k fresh input at $2 + 1M cache reads at $0.5 + 200k cache writes at $2.5; 500k output at $8.
    assert cost.input == pytest.approx(1.6 + 0.5 + 0.5)
    assert cost.output == pytest.approx(4.0)
    assert cost.total == pytest.approx(6.6)
    # Without cache rates, cached input costs the input rate.
    flat = prices.cost("anyone", "flat-model", usage)
    assert flat is not None and flat.input == pytest.approx(2.0) and flat.output == pytest.approx(1.5)


def test_an_override_beats_the_library_and_covers_dated_snapshots() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    prices = Prices(
        {"gpt-4o-mini": {"input": 10.0, "output": 20.0}, "gpt-4o-mini-2024-07-18": {"input": 1, "output": 1}}
    )
    assert prices.cost("openai", "gpt-4o-mini", usage).total == pytest.approx(30.0)
    assert prices.cost("openai", "gpt-4o-mini-2099-01-01", usage).total == pytest.approx(30.0)
    assert prices.cost("openai", "gpt-4o-mini-2024-07-18", usage).total == pytest.approx(2.0)


def test_overrides_through_instrument() -> None:
    with capture(integrations=[], prices={"house-llm": {"input": 4.0, "output": 16.0}}) as spans:
        _call(None, "house-llm", Usage(input_tokens=1000, output_tokens=250))
    attrs = spans.one("chat house-llm").attributes
    assert attrs[sc.GEN_AI_USAGE_COST] == pytest.approx(1000 * 4e-6 + 250 * 16e-6)


# --- unknown models -------------------------------------------------------------------------------


def test_unknown_model_gets_no_cost_and_one_warning_per_model(
    spans: CapturedSpans, caplog: pytest.LogCaptureFixture
) -> None:
    usage = Usage(input_tokens=100, output_tokens=20)
    with caplog.at_level(logging.WARNING, logger="threadline"):
        for _ in range(3):
            _call("openai", "no-such-model-xyz", usage)
        _call(None, "another-unknown-model", usage)
        _call(None, "another-unknown-model", usage)
    warnings = _price_warnings(caplog)
    assert len(warnings) == 2
    assert "no-such-model-xyz" in warnings[0] and "another-unknown-model" in warnings[1]
    for span in spans.finished():
        attrs = span.attributes
        assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 100  # tokens are still recorded
        for key in (sc.GEN_AI_USAGE_COST, sc.OI_LLM_COST_TOTAL, sc.COST_INPUT, sc.COST_OUTPUT):
            assert key not in attrs


def test_a_model_call_without_usage_gets_no_cost(spans: CapturedSpans, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="threadline"):
        _call("openai", "gpt-4o-mini", None)
    attrs = spans.one("chat gpt-4o-mini").attributes
    assert sc.GEN_AI_USAGE_COST not in attrs and sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs
    assert _price_warnings(caplog) == []


def test_cost_uses_the_response_model_first(spans: CapturedSpans) -> None:
    usage = Usage(input_tokens=1000, output_tokens=1000)
    _call("openai", "gpt-4o", usage, response_model="gpt-4o-mini-2024-07-18")
    expected = calc_price(PriceUsage(input_tokens=1000, output_tokens=1000), "gpt-4o-mini", provider_id="openai")
    assert spans.one("chat gpt-4o").attributes[sc.GEN_AI_USAGE_COST] == pytest.approx(float(expected.total_price))


def test_threadline_exports_model_rate() -> None:
    assert threadline.ModelRate is ModelRate


def test_usage_is_read_from_the_sdk_models_fields_and_extra_keys() -> None:
    from openai.types import CompletionUsage

    raw = CompletionUsage.model_validate(
        {
            "prompt_tokens": 1200,
            "completion_tokens": 80,
            "total_tokens": 1280,
            # cache_creation_tokens is not a field of PromptTokensDetails: an OpenAI-compatible
            # provider sending it lands in pydantic's extra keys.
            "prompt_tokens_details": {"cached_tokens": 1024, "cache_creation_tokens": 100},
            "completion_tokens_details": {"reasoning_tokens": 64},
        }
    )
    usage = usage_from_openai(raw)
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (1200, 80, 1280)
    # The details: cached and reasoning tokens from their fields, cache writes from the extra key.
    assert (usage.cache_read_tokens, usage.reasoning_tokens, usage.cache_write_tokens) == (1024, 64, 100)
    assert usage.cache_write_1h_tokens is None
