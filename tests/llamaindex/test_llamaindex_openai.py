"""llama-index-llms-openai over the real openai client, replayed by vcrpy: usage and cost counted once.

Cassettes (``cassettes/llamaindex/test_llamaindex_openai/<test>.yaml``) are
hand-written from the OpenAI API reference: a ``chat.completion`` object, and
an SSE stream of ``chat.completion.chunk`` objects ending with the usage chunk
that ``stream_options.include_usage`` asks for, then ``data: [DONE]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import vcr
from li_kit import openai_cost
from llama_index.core.base.llms.types import ChatMessage
from llama_index.llms.openai import OpenAI

from tests.kit import attrs as _attrs
from threadline import plugins
from threadline import semconv as sc
from threadline.testing import capture

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "llamaindex" / Path(__file__).stem
HAVE_OPENAI_INTEGRATION = "openai" in plugins.available()
USER = [ChatMessage(role="user", content="Say hi")]

with_and_without_openai = pytest.mark.parametrize(
    "integrations",
    [
        pytest.param(["llamaindex"], id="llamaindex-alone"),
        pytest.param(
            ["llamaindex", "openai"],
            id="with-openai-integration",
            marks=pytest.mark.skipif(
                not HAVE_OPENAI_INTEGRATION, reason="threadline_openai (the OpenAI integration) is not installed yet"
            ),
        ),
    ],
)


def _json_body(r1, r2) -> None:
    assert json.loads(r1.body or b"{}") == json.loads(r2.body or b"{}")


@pytest.fixture
def cassette(request):
    recorder = vcr.VCR(
        record_mode="none",
        filter_headers=["authorization", "api-key", "openai-organization"],
        match_on=["method", "scheme", "host", "port", "path", "json_body"],
    )
    recorder.register_matcher("json_body", _json_body)
    with recorder.use_cassette(str(CASSETTES / f"{request.node.originalname}.yaml")) as cas:
        yield cas
    assert cas.all_played


def _llm() -> OpenAI:
    return OpenAI(
        model="gpt-4o-mini",
        api_key="sk-test-not-a-real-key",
        max_retries=0,
        additional_kwargs={"stream_options": {"include_usage": True}},
    )


def _check_counted_once(spans, integrations, tokens: tuple[int, int, int], cost: float):
    prompt, completion, cached = tokens
    assert len(spans.traces()) == 1, spans.tree()
    carriers = [s for s in spans.finished() if sc.GEN_AI_USAGE_INPUT_TOKENS in _attrs(s)]
    assert len(carriers) == 1, spans.tree()
    carrier = _attrs(carriers[0])
    assert carrier[sc.GEN_AI_USAGE_INPUT_TOKENS] == prompt
    assert carrier[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == completion
    assert carrier.get(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0) == cached
    assert carrier[sc.GEN_AI_USAGE_COST] == pytest.approx(cost, abs=1e-12)
    assert carrier[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert sum(_attrs(s).get(sc.GEN_AI_USAGE_COST, 0.0) for s in spans.finished()) == pytest.approx(cost, abs=1e-12)
    llamaindex = [s for s in spans.finished() if _attrs(s)[sc.INTEGRATION] == "llamaindex"]
    assert len(llamaindex) == 1
    if integrations == ["llamaindex"]:
        assert carriers[0] is llamaindex[0]
        return
    openai_spans = [s for s in spans.finished() if _attrs(s)[sc.INTEGRATION] == "openai"]
    assert len(openai_spans) == 1
    assert openai_spans[0].parent.span_id == llamaindex[0].context.span_id
    assert carriers[0] is openai_spans[0]
    assert _attrs(llamaindex[0])[sc.USAGE_COUNTED_IN] == format(openai_spans[0].context.span_id, "016x")


@with_and_without_openai
def test_chat(cassette, integrations):
    with capture(integrations=integrations) as spans:
        response = _llm().chat(USER)
    assert response.message.content == "Hi there! How can I help you today?"
    _check_counted_once(spans, integrations, (2048, 12, 1024), openai_cost(2048, 12, cached=1024))
    li = _attrs(_li_span(spans))
    assert li[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert li[sc.GEN_AI_REQUEST_TEMPERATURE] == pytest.approx(0.1)
    assert li[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-BnLi7Q2xkXbXfVnDCs0cLk1vMqJ5n"


@with_and_without_openai
def test_stream_chat(cassette, integrations):
    with capture(integrations=integrations) as spans:
        stream = _llm().stream_chat(USER)
        text = "".join(chunk.delta or "" for chunk in stream)
    assert text == "Hi there!"
    _check_counted_once(spans, integrations, (19, 3, 0), openai_cost(19, 3))
    li = _attrs(_li_span(spans))
    assert li[sc.GEN_AI_REQUEST_STREAM] is True
    assert li[sc.TIME_TO_FIRST_TOKEN] >= 0
    assert li[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert '"Hi there!"' in li[sc.OI_OUTPUT_VALUE]


@with_and_without_openai
async def test_astream_chat(cassette, integrations):
    with capture(integrations=integrations) as spans:
        stream = await _llm().astream_chat(USER)
        text = "".join([chunk.delta or "" async for chunk in stream])
    assert text == "Hi there!"
    _check_counted_once(spans, integrations, (19, 3, 0), openai_cost(19, 3))


def _li_span(spans):
    [span] = [s for s in spans.finished() if _attrs(s)[sc.INTEGRATION] == "llamaindex"]
    return span
