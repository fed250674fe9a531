"""Errors, timeouts and retries: one span per logical call, the SDK's exception unchanged."""

from __future__ import annotations

import openai
import pytest
from oa_kit import API_KEY, MODEL, RESPONSE_MODEL, attrs, expected_cost, http_module

from threadline import semconv as sc

MESSAGES = [{"role": "user", "content": "Say hello in three words."}]


def assert_error_span(span, status: int | None, error_type: str) -> dict:
    a = attrs(span)
    assert a[sc.OUTCOME] == "error"
    assert a[sc.ERROR_TYPE] == error_type
    assert span.status.is_ok is False
    if status is None:
        assert sc.HTTP_RESPONSE_STATUS_CODE not in a
    else:
        assert a[sc.HTTP_RESPONSE_STATUS_CODE] == status
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in a and sc.GEN_AI_USAGE_COST not in a
    assert any(event.name == "exception" for event in span.events)
    return a


async def test_rate_limited_429(cassette, spans, client):
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limit_exceeded"
    assert_error_span(spans.one(f"chat {MODEL}"), 429, "RateLimitError")


async def test_bad_request_400_on_a_streamed_call(cassette, spans, aclient):
    with pytest.raises(openai.BadRequestError) as caught:
        await aclient.responses.create(model=MODEL, input="Hi", temperature=3.5, stream=True)
    assert caught.value.param == "temperature"
    a = assert_error_span(spans.one(f"chat {MODEL}"), 400, "BadRequestError")
    assert a[sc.GEN_AI_REQUEST_STREAM] is True
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 3.5


async def test_retries_are_counted_on_one_span(cassette, spans):
    client = openai.OpenAI(api_key=API_KEY, max_retries=2)
    out = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert out.choices[0].message.content == "Hello there, friend!"
    (span,) = spans.finished()
    a = attrs(span)
    assert a[sc.RETRIES] == 2
    assert a[sc.OUTCOME] == "ok"
    assert a[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 19
    assert a[sc.GEN_AI_USAGE_COST] == pytest.approx(expected_cost(RESPONSE_MODEL, 14, 5), rel=1e-9)


async def test_retries_exhausted(cassette, spans):
    client = openai.AsyncOpenAI(api_key=API_KEY, max_retries=1)
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    a = assert_error_span(spans.one(f"chat {MODEL}"), 429, "RateLimitError")
    assert a[sc.RETRIES] == 1


async def test_timeout(spans):
    httpx = http_module()
    attempts = []

    def timeout(request):
        attempts.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    client = openai.OpenAI(
        api_key=API_KEY, max_retries=1, timeout=0.5, http_client=httpx.Client(transport=httpx.MockTransport(timeout))
    )
    client._calculate_retry_timeout = lambda *args, **kwargs: 0.0  # no real back-off sleep in a test
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert len(attempts) == 2
    a = assert_error_span(spans.one(f"chat {MODEL}"), None, "APITimeoutError")
    assert a[sc.RETRIES] == 1


async def test_other_endpoints_get_a_generic_span(cassette, spans, client):
    page = client.models.list()
    assert [m.id for m in page.data] == ["gpt-4o-mini", "text-embedding-3-small"]
    model = client.models.retrieve("gpt-4o-mini")
    assert model.owned_by == "system"
    raw = client.models.with_raw_response.retrieve("gpt-4o-mini")
    assert raw.parse().id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-missing")

    listed, retrieved, retrieved_raw, missing = spans.finished()
    assert listed.name == "openai GET /models"
    assert retrieved.name == retrieved_raw.name == "openai GET /models/{id}"
    assert missing.name == "openai GET /files/{id}"
    for span in (listed, retrieved, retrieved_raw):
        a = attrs(span)
        assert a[sc.SPAN_KIND] == "request"
        assert a[sc.OUTCOME] == "ok"
        assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
        assert sc.GEN_AI_USAGE_INPUT_TOKENS not in a
    assert_error_span(missing, 404, "NotFoundError")
