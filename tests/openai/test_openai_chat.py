"""Chat Completions: every way of calling it yields one span with usage, cost and the SDK's own objects."""

from __future__ import annotations

import asyncio
import gc
import json

import openai
import pytest
from oa_kit import MODEL, MODES, RESPONSE_MODEL, assert_usage, attrs, chat_text, expected_cost, invoke, only_span_attrs
from pydantic import BaseModel

from threadline import semconv as sc
from threadline_openai._reaper import settle

MESSAGES = [{"role": "user", "content": "Say hello in three words."}]
ANSWER = "Hello there, friend!"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_chat_matrix(cassette, spans, client, aclient, mode, stream, is_async):
    resource = (aclient if is_async else client).chat.completions
    extra = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
    out = await invoke(resource, mode, is_async, model=MODEL, messages=MESSAGES, **extra)

    if stream:
        assert chat_text(out) == ANSWER
        assert out[-1].choices == [] and out[-1].usage.total_tokens == 19
    else:
        assert type(out) is openai.types.chat.ChatCompletion
        assert out.choices[0].message.content == ANSWER

    a = only_span_attrs(spans, f"chat {MODEL}")
    assert a[sc.SPAN_KIND] == "model"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert a[sc.SERVER_ADDRESS] == "api.openai.com"
    assert a[sc.GEN_AI_REQUEST_MODEL] == MODEL
    assert a[sc.GEN_AI_RESPONSE_MODEL] == RESPONSE_MODEL
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert_usage(a, RESPONSE_MODEL, 14, 5)
    assert a[sc.OUTCOME] == "ok"
    assert "Say hello in three words." in a[sc.GEN_AI_INPUT_MESSAGES]
    assert ANSWER in a[sc.GEN_AI_OUTPUT_MESSAGES]
    if stream:
        assert a[sc.GEN_AI_REQUEST_STREAM] is True
        assert a[sc.END_REASON] == "completed"
        assert a[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-BnM4xStreamHello3Words01"
        assert a[sc.TIME_TO_FIRST_TOKEN] >= 0
    else:
        assert sc.END_REASON not in a and sc.TIME_TO_FIRST_TOKEN not in a
        assert a[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-BnM4wWholeHello3Words01"


async def test_chat_stream_without_usage_has_no_token_counts(cassette, spans, client):
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert chat_text(list(stream)) == ANSWER

    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.END_REASON] == "completed"
    assert ANSWER in a[sc.GEN_AI_OUTPUT_MESSAGES]
    for name in (sc.GEN_AI_USAGE_INPUT_TOKENS, sc.GEN_AI_USAGE_OUTPUT_TOKENS, sc.GEN_AI_USAGE_TOTAL_TOKENS):
        assert name not in a
    assert sc.GEN_AI_USAGE_COST not in a


async def test_chat_include_usage_option(cassette, monkeypatch, client):
    """``THREADLINE_OPENAI_INCLUDE_USAGE=1`` asks for the usage chunk (the cassette only matches that body)."""
    from threadline.testing import capture

    monkeypatch.setenv("THREADLINE_OPENAI_INCLUDE_USAGE", "1")
    with capture(integrations=["openai"]) as spans:
        chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert chat_text(chunks) == ANSWER
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 19


@pytest.mark.parametrize("how", ["close", "break", "with_exit", "never_iterated", "next_then_dropped"])
async def test_chat_stream_ends_early(cassette, spans, client, how):
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert type(stream) is openai.Stream
    if how == "close":
        next(stream)
        next(stream)
        stream.close()
    elif how == "break":
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        # The stream object is still alive here: the span ended when the loop was left.
        assert len(spans.finished()) == 1
    elif how == "with_exit":
        with stream as s:
            next(s)
    elif how == "never_iterated":
        del stream
        gc.collect()
        assert settle()  # ends seen by the garbage collector are done off its back, on a thread
    else:
        next(stream)
        del stream
        gc.collect()
        assert settle()

    (span,) = spans.finished()
    a = attrs(span)
    expected = {"never_iterated": "garbage_collected", "next_then_dropped": "garbage_collected"}.get(
        how, "closed_early"
    )
    assert a[sc.END_REASON] == expected
    assert a[sc.OUTCOME] == "ok"
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in a  # the usage chunk was never read: nothing is guessed
    if how == "break":
        assert a[sc.TIME_TO_FIRST_TOKEN] >= 0
        assert "Hello" in a[sc.GEN_AI_OUTPUT_MESSAGES]


async def test_async_chat_stream_ends_early(cassette, spans, aclient):
    stream = await aclient.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert type(stream) is openai.AsyncStream
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    for _ in range(3):  # the abandoned async generator is closed by the event loop
        await asyncio.sleep(0)
    (span,) = spans.finished()
    assert attrs(span)[sc.END_REASON] == "closed_early"

    second = await aclient.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    await second.__anext__()
    await second.close()
    closed = [s for s in spans.finished() if s is not span]
    assert [attrs(s)[sc.END_REASON] for s in closed] == ["closed_early"]


async def test_chat_stream_error_mid_stream(cassette, spans, client):
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    seen = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            seen.append(chunk)
    assert "overloaded" in str(caught.value)
    assert chat_text(seen) == "Hello"
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.END_REASON] == "error"
    assert a[sc.OUTCOME] == "error"
    assert a[sc.ERROR_TYPE] == "APIError"
    assert spans.one(f"chat {MODEL}").status.is_ok is False


async def test_chat_tool_call_stream(cassette, spans, client):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]
    messages = [{"role": "user", "content": "What's the weather in Paris?"}]
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=messages, tools=tools, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage.total_tokens == 75
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    (message,) = json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])
    assert message["finish_reason"] == "tool_calls"
    (call,) = message["parts"]
    assert (call["type"], call["name"], call["arguments"]) == ("tool_call", "get_weather", {"city": "Paris"})
    oi_call = f"{sc.OI_LLM_OUTPUT_MESSAGES}.0.{sc.OI_MESSAGE_TOOL_CALLS}.0."
    assert a[oi_call + sc.OI_TOOL_CALL_FUNCTION_NAME] == "get_weather"
    assert json.loads(a[oi_call + sc.OI_TOOL_CALL_FUNCTION_ARGUMENTS]) == {"city": "Paris"}
    assert a[oi_call + sc.OI_TOOL_CALL_ID] == call["id"]
    (tool,) = json.loads(a[sc.GEN_AI_TOOL_DEFINITIONS])
    assert tool["name"] == "get_weather" and tool["parameters"]["required"] == ["city"]
    assert json.loads(a[f"{sc.OI_LLM_TOOLS}.0.{sc.OI_TOOL_JSON_SCHEMA}"])["function"]["name"] == "get_weather"
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 61
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 14


class Capital(BaseModel):
    city: str
    country: str


async def test_chat_parse(cassette, spans, client):
    completion = client.chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "Capital of France?"}], response_format=Capital
    )
    assert completion.choices[0].message.parsed == Capital(city="Paris", country="France")
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 71
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 10
    assert a[sc.GEN_AI_USAGE_COST] == pytest.approx(expected_cost(RESPONSE_MODEL, 71, 10), rel=1e-9)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_chat_stream_helper(cassette, spans, client, aclient, is_async):
    kwargs = {"model": MODEL, "messages": MESSAGES, "stream_options": {"include_usage": True}}
    if is_async:
        async with aclient.chat.completions.stream(**kwargs) as stream:
            final = await stream.get_final_completion()
    else:
        with client.chat.completions.stream(**kwargs) as stream:
            final = stream.get_final_completion()
    assert final.choices[0].message.content == ANSWER
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.END_REASON] == "completed"
    assert a[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 19


async def test_chat_stream_helper_closed_early(cassette, spans, client):
    with client.chat.completions.stream(model=MODEL, messages=MESSAGES) as stream:
        for event in stream:
            if event.type == "content.delta":
                break
        assert spans.finished() == []  # still open: the helper has not been closed yet
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.END_REASON] == "closed_early"


async def test_chat_cached_tokens_cost(cassette, spans, client):
    long_prompt = [{"role": "system", "content": "You are a support agent for ACME. " * 200}] + MESSAGES
    out = client.chat.completions.create(model=MODEL, messages=long_prompt)
    assert out.usage.prompt_tokens_details.cached_tokens == 1152
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1400
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1152
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 60
    cost = expected_cost(RESPONSE_MODEL, 1400, 60, cached=1152)
    assert a[sc.GEN_AI_USAGE_COST] == pytest.approx(cost, rel=1e-9)
    # Cached input is cheaper: the cost is below what 1400 uncached tokens would have cost.
    assert cost < expected_cost(RESPONSE_MODEL, 1400, 60)


async def test_chat_audio_tokens(cassette, spans, client):
    client.chat.completions.create(
        model="gpt-4o-audio-preview",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": "Say hi."}],
    )
    a = attrs(spans.one("chat gpt-4o-audio-preview"))
    assert sc.OI_LLM_TOKEN_COUNT_PROMPT_AUDIO not in a  # no audio in: nothing recorded
    assert a[sc.OI_LLM_TOKEN_COUNT_COMPLETION_AUDIO] == 41
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 48
    assert '"transcript": "Hi there!"' in a[sc.OI_OUTPUT_VALUE]
    assert json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [{"type": "text", "content": "Hi there!"}]


async def test_raw_response_never_parsed(cassette, spans, client):
    """A raw response dropped without ``parse()`` still ends its span: with the body's usage when it was read."""
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.status_code == 200
    raw_stream = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert spans.finished() == []
    del raw, raw_stream
    gc.collect()
    assert settle()
    whole, streamed = sorted(spans.finished(), key=lambda s: attrs(s).get(sc.GEN_AI_REQUEST_STREAM, False))
    assert attrs(whole)[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 19
    assert attrs(whole)[sc.OUTCOME] == "ok"
    assert attrs(streamed)[sc.END_REASON] == "garbage_collected"
    assert sc.GEN_AI_USAGE_TOTAL_TOKENS not in attrs(streamed)
