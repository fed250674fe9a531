"""Counted once: when a framework's model span wraps the SDK call, exactly one span carries usage and cost."""

from __future__ import annotations

import importlib.util

import pytest
from oa_kit import MODEL, RESPONSE_MODEL, attrs, expected_cost
from opentelemetry import context as otel_context

from threadline import semconv as sc
from threadline.integration import current_emitter
from threadline.records import ModelCall
from threadline.usage import Usage

MESSAGES = [{"role": "user", "content": "Say hello in three words."}]


def with_usage(spans) -> list:
    return [s for s in spans.finished() if sc.GEN_AI_USAGE_INPUT_TOKENS in attrs(s)]


async def test_inner_sdk_span_carries_the_usage(cassette, spans, client):
    emitter = current_emitter()
    outer = emitter.start(ModelCall(name="ChatOpenAI", integration="langchain", provider="openai", request_model=MODEL))
    token = otel_context.attach(outer.context)
    try:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        otel_context.detach(token)
    outer.record.usage = Usage(input_tokens=14, output_tokens=5, total_tokens=19)  # the framework saw it too
    emitter.end(outer)

    inner = next(s for s in spans.finished() if attrs(s)[sc.INTEGRATION] == "openai")
    wrapper = next(s for s in spans.finished() if attrs(s)[sc.INTEGRATION] == "langchain")
    assert inner.parent.span_id == wrapper.context.span_id
    assert with_usage(spans) == [inner]
    assert attrs(inner)[sc.GEN_AI_USAGE_COST] == pytest.approx(expected_cost(RESPONSE_MODEL, 14, 5), rel=1e-9)
    assert attrs(wrapper)[sc.USAGE_COUNTED_IN] == format(inner.context.span_id, "016x")
    assert sc.GEN_AI_USAGE_COST not in attrs(wrapper)


def _missing(*modules: str) -> bool:
    for module in modules:
        try:
            if importlib.util.find_spec(module) is None:
                return True
        except ModuleNotFoundError:  # its parent package is not installed
            return True
    return False


@pytest.mark.skipif(
    _missing("llama_index.core", "llama_index.llms.openai", "threadline_llamaindex"),
    reason="needs llama-index-llms-openai (openai<3) and threadline-llamaindex",
)
async def test_llamaindex_openai_llm(cassette):
    from llama_index.core.llms import ChatMessage
    from llama_index.llms import openai as li_openai

    from threadline.testing import capture

    llm = li_openai.OpenAI(model=MODEL, api_key="sk-test-not-a-real-key", max_retries=0)
    with capture(integrations=["llamaindex", "openai"]) as spans:
        answer = llm.chat([ChatMessage(role="user", content="Say hello in three words.")])
    assert answer.message.content == "Hello there, friend!"
    sdk = [s for s in spans.finished() if attrs(s)[sc.INTEGRATION] == "openai"]
    assert len(sdk) == 1
    assert with_usage(spans) == sdk
    assert attrs(sdk[0])[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 19
    assert len(spans.traces()) == 1, spans.tree()
    assert any(sc.USAGE_COUNTED_IN in attrs(s) for s in spans.finished() if s is not sdk[0]), spans.tree()


@pytest.mark.skipif(
    _missing("langchain_openai", "threadline_langchain"), reason="needs langchain-openai and threadline-langchain"
)
async def test_langchain_chat_openai(cassette):
    import langchain_openai

    from threadline.testing import capture

    chat = langchain_openai.ChatOpenAI(model=MODEL, api_key="sk-test-not-a-real-key", max_retries=0)
    with capture(integrations=["langchain", "openai"]) as spans:
        answer = chat.invoke("Say hello in three words.")
    assert answer.content == "Hello there, friend!"
    sdk = [s for s in spans.finished() if attrs(s)[sc.INTEGRATION] == "openai"]
    assert len(sdk) == 1
    assert with_usage(spans) == sdk
    assert attrs(sdk[0])[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 19
    assert len(spans.traces()) == 1, spans.tree()
