"""Responses API: plain, streamed, helpers and parse; usage from the final event, even when incomplete or failed."""

from __future__ import annotations

import gc
import json

import openai
import pytest
from oa_kit import MODEL, MODES, RESPONSE_MODEL, assert_usage, attrs, expected_cost, invoke, only_span_attrs
from pydantic import BaseModel

from threadline import semconv as sc
from threadline_openai._reaper import settle

INPUT = "Write a one-line haiku about tea."
ANSWER = "Steam curls from the cup."


def streamed_text(events: list) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_responses_matrix(cassette, spans, client, aclient, mode, stream, is_async):
    resource = (aclient if is_async else client).responses
    extra = {"stream": True} if stream else {}
    out = await invoke(resource, mode, is_async, model=MODEL, input=INPUT, instructions="Be brief.", **extra)

    if stream:
        assert streamed_text(out) == ANSWER
        assert out[-1].type == "response.completed"
        response_id = "resp_6863d1f0a4bc8193b1e2f3a4c5d6e7f80b5a1c2d3e4f5a6b"
    else:
        assert type(out) is openai.types.responses.Response
        assert out.output_text == ANSWER
        response_id = "resp_6863d1e9c8a48190a7b6c5d4e3f2a1b00b5a1c2d3e4f5a6b"

    a = only_span_attrs(spans, f"chat {MODEL}")
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.GEN_AI_RESPONSE_ID] == response_id
    assert a[sc.GEN_AI_RESPONSE_MODEL] == RESPONSE_MODEL
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert_usage(a, RESPONSE_MODEL, 26, 8)
    assert json.loads(a[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be brief."}]
    assert "Be brief." not in a[sc.GEN_AI_INPUT_MESSAGES]
    assert INPUT in a[sc.GEN_AI_INPUT_MESSAGES]
    assert ANSWER in a[sc.GEN_AI_OUTPUT_MESSAGES]
    assert a[sc.OUTCOME] == "ok"
    # A stored response with no other session id starts its own (so a chain that follows joins it).
    assert a[sc.SESSION_ID] == response_id
    assert a[sc.SESSION_ORIGIN] == "openai.response_id"
    if stream:
        assert a[sc.END_REASON] == "completed"
        assert a[sc.TIME_TO_FIRST_TOKEN] >= 0
    else:
        assert sc.END_REASON not in a


@pytest.mark.parametrize("final", ["incomplete", "failed"])
async def test_responses_stream_incomplete_or_failed_keeps_usage(cassette, spans, client, final):
    prompt = INPUT if final == "incomplete" else "Write a one-line haiku about coffee."
    events = list(client.responses.create(model=MODEL, input=prompt, max_output_tokens=16, stream=True))
    assert events[-1].type == f"response.{final}"
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.END_REASON] == "completed"
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 26
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 16
    assert a[sc.GEN_AI_USAGE_COST] == pytest.approx(expected_cost(RESPONSE_MODEL, 26, 16), rel=1e-9)
    if final == "incomplete":
        assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("max_output_tokens",)
        assert a[sc.OUTCOME] == "ok"
    else:
        assert a[sc.OUTCOME] == "error"
        assert a[sc.ERROR_TYPE] == "server_error"
        assert spans.one(f"chat {MODEL}").status.is_ok is False


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_responses_stream_helper(cassette, spans, client, aclient, is_async):
    if is_async:
        async with aclient.responses.stream(model=MODEL, input=INPUT) as stream:
            final = await stream.get_final_response()
    else:
        with client.responses.stream(model=MODEL, input=INPUT) as stream:
            final = stream.get_final_response()
    assert final.output_text == ANSWER
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.END_REASON] == "completed"
    assert a[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 31


async def test_responses_stream_helper_closed_early(cassette, spans, client):
    with client.responses.stream(model=MODEL, input=INPUT) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                break
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.END_REASON] == "closed_early"
    assert a[sc.TIME_TO_FIRST_TOKEN] >= 0
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in a
    # The response id came with ``response.created``: it is recorded even though the stream stopped early.
    assert a[sc.GEN_AI_RESPONSE_ID] == "resp_6863d21a7f588192a1b2c3d4e5f6a7b80b5a1c2d3e4f5a6b"


async def test_responses_stream_never_iterated(cassette, spans, client):
    stream = client.responses.create(model=MODEL, input=INPUT, stream=True)
    assert type(stream) is openai.Stream
    del stream
    gc.collect()
    assert settle()
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.END_REASON] == "garbage_collected"
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in a


class Capital(BaseModel):
    city: str
    country: str


async def test_responses_parse(cassette, spans, client):
    parsed = client.responses.parse(model=MODEL, input="Capital of France?", text_format=Capital)
    assert parsed.output_parsed == Capital(city="Paris", country="France")
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 68
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 12


async def test_responses_reasoning_tokens_cost(cassette, spans, client):
    client.responses.create(model="o4-mini", input="How many r's are in strawberry?", reasoning={"effort": "low"})
    a = attrs(spans.one("chat o4-mini"))
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 15
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 210
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 192
    assert a[sc.GEN_AI_USAGE_COST] == pytest.approx(expected_cost("o4-mini-2025-04-16", 15, 210), rel=1e-9)
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "o4-mini-2025-04-16"


async def test_responses_function_call(cassette, spans, client):
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]
    response = client.responses.create(model=MODEL, input="What's the weather in Paris?", tools=tools)
    assert response.output[0].type == "function_call"
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert '"call_id": "call_Zk2pQ7mN4xV8bR1tY6sL3wDf"' in a[sc.OI_OUTPUT_VALUE]
    (message,) = json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])
    assert message["parts"][0]["name"] == "get_weather" and message["parts"][0]["id"] == "call_Zk2pQ7mN4xV8bR1tY6sL3wDf"
    assert (
        a[f"{sc.OI_LLM_OUTPUT_MESSAGES}.0.{sc.OI_MESSAGE_TOOL_CALLS}.0.{sc.OI_TOOL_CALL_FUNCTION_NAME}"]
        == "get_weather"
    )
    assert json.loads(a[sc.GEN_AI_TOOL_DEFINITIONS])[0]["description"] == "Current weather for a city."
