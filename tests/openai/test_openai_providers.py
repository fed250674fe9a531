"""The provider name tells OpenAI, Azure OpenAI and other OpenAI-compatible base URLs apart."""

from __future__ import annotations

import openai
import pytest
from oa_kit import API_KEY, MODEL, attrs, expected_cost

from threadline import semconv as sc

MESSAGES = [{"role": "user", "content": "Hi"}]


async def test_azure_openai_client(cassette, spans):
    client = openai.AzureOpenAI(
        api_key=API_KEY,
        azure_endpoint="https://contoso-eastus.openai.azure.com",
        api_version="2024-10-21",
        max_retries=0,
    )
    out = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert out.choices[0].message.content == "Hello! How can I help you today?"
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert a[sc.SERVER_ADDRESS] == "contoso-eastus.openai.azure.com"
    assert a[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 18
    assert a[sc.GEN_AI_USAGE_COST] == pytest.approx(expected_cost(MODEL, 8, 10, provider="azure"), rel=1e-9)


async def test_azure_v1_endpoint_with_the_openai_client(cassette, spans):
    client = openai.OpenAI(
        api_key=API_KEY, base_url="https://contoso-eastus.openai.azure.com/openai/v1/", max_retries=0
    )
    client.responses.create(model=MODEL, input="Hi")
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert a[sc.SERVER_ADDRESS] == "contoso-eastus.openai.azure.com"


async def test_known_compatible_provider(cassette, spans):
    client = openai.OpenAI(api_key=API_KEY, base_url="https://api.groq.com/openai/v1", max_retries=0)
    client.chat.completions.create(model="llama-3.1-8b-instant", messages=MESSAGES)
    a = attrs(spans.one("chat llama-3.1-8b-instant"))
    assert a[sc.GEN_AI_PROVIDER_NAME] == "groq"
    assert a[sc.GEN_AI_USAGE_COST] == pytest.approx(
        expected_cost("llama-3.1-8b-instant", 36, 10, provider="groq"), rel=1e-9
    )


async def test_self_hosted_base_url(cassette, spans):
    client = openai.AsyncOpenAI(api_key="EMPTY", base_url="http://localhost:8000/v1", max_retries=0)
    await client.chat.completions.create(model="acme-support-ft-7b", messages=MESSAGES)
    a = attrs(spans.one("chat acme-support-ft-7b"))
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai_compatible"
    assert a[sc.SERVER_ADDRESS] == "localhost"
    assert a[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 20
    assert sc.GEN_AI_USAGE_COST not in a  # an unknown model gets no cost, never a made-up one
