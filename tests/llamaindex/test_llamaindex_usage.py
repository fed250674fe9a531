"""Usage from every response shape, cost through the core, and usage counted once."""

from __future__ import annotations

from typing import Any

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from li_kit import ANTHROPIC_MODEL, OPENAI_MODEL, ScriptedLLM, openai_cost
from llama_index.core.base.llms.types import ChatMessage, CompletionResponse, LLMMetadata
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback

from tests.kit import attrs as _attrs
from threadline import semconv as sc
from threadline.integration import current_emitter
from threadline.records import ModelCall
from threadline.usage import Usage

MODEL_SPAN = f"chat {OPENAI_MODEL}"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")  # LlamaIndex's own, in agents
USER = [ChatMessage(role="user", content="hi")]


@pytest.mark.parametrize("shape", ["openai", "openai_object", "kwargs"])
def test_openai_shapes(spans, shape):
    ScriptedLLM(shape=shape, prompt_tokens=1000, completion_tokens=200).chat(USER)
    m = _attrs(spans.one(MODEL_SPAN))
    assert m[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    assert m[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 200
    assert m[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 1200
    assert m[sc.GEN_AI_USAGE_COST] == pytest.approx(0.00027, abs=1e-12)  # 1000 x $0.15/M + 200 x $0.60/M


def test_cached_and_reasoning_tokens(spans):
    ScriptedLLM(
        shape="openai_object", prompt_tokens=2000, completion_tokens=500, cached_tokens=1500, reasoning_tokens=300
    ).chat(USER)
    m = _attrs(spans.one(MODEL_SPAN))
    assert m[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1500
    assert m[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 300
    assert m[sc.GEN_AI_USAGE_COST] == pytest.approx(openai_cost(2000, 500, cached=1500), abs=1e-12)
    price = calc_price(
        PriceUsage(input_tokens=2000, output_tokens=500, cache_read_tokens=1500),
        model_ref=OPENAI_MODEL,
        provider_id="openai",
    )
    assert m[sc.GEN_AI_USAGE_COST] == pytest.approx(float(price.total_price), abs=1e-12)


@pytest.mark.parametrize("streamed", [False, True])
def test_anthropic_shape_counts_cache_as_input(spans, streamed):
    llm = ScriptedLLM(
        model=ANTHROPIC_MODEL,
        shape="anthropic",
        prompt_tokens=100,
        completion_tokens=40,
        cached_tokens=800,
        cache_write_tokens=50,
    )
    if streamed:
        list(llm.stream_chat(USER))
    else:
        llm.chat(USER)
    m = _attrs(spans.one(f"chat {ANTHROPIC_MODEL}"))
    assert m[sc.GEN_AI_USAGE_INPUT_TOKENS] == 950  # Anthropic's input_tokens exclude cache reads and writes
    assert m[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 800
    assert m[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 50
    assert m[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 40  # from message_delta when streamed, not message_start's 1
    assert m[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    price = calc_price(
        PriceUsage(input_tokens=950, output_tokens=40, cache_read_tokens=800, cache_write_tokens=50),
        model_ref=ANTHROPIC_MODEL,
    )
    assert m[sc.GEN_AI_USAGE_COST] == pytest.approx(float(price.total_price), abs=1e-12)


class _CompletionLLM(CustomLLM):
    """A completion model: ``CustomLLM.chat`` calls ``complete``; both see the same usage."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=OPENAI_MODEL)

    def _raw(self) -> dict[str, Any]:
        return {
            "id": "cmpl-1",
            "model": OPENAI_MODEL,
            "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
        }

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text="done", raw=self._raw())

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        def gen():
            yield CompletionResponse(text="do", delta="do")
            yield CompletionResponse(text="done", delta="ne", raw=self._raw())

        return gen()


@pytest.mark.parametrize("streamed", [False, True])
def test_nested_llamaindex_model_spans_count_usage_once(spans, streamed):
    llm = _CompletionLLM()
    if streamed:
        assert [r.delta for r in llm.stream_chat(USER)] == ["do", "ne"]
    else:
        assert llm.chat(USER).message.content == "done"
    chat = spans.one(MODEL_SPAN)
    complete = spans.one(f"text_completion {OPENAI_MODEL}")
    assert complete.parent.span_id == chat.context.span_id
    # the inner (real) model call carries usage and cost ...
    assert _attrs(complete)[sc.GEN_AI_USAGE_INPUT_TOKENS] == 50
    assert _attrs(complete)[sc.GEN_AI_USAGE_COST] == pytest.approx(openai_cost(50, 10), abs=1e-12)
    # ... the outer one points at it
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in _attrs(chat)
    assert sc.GEN_AI_USAGE_COST not in _attrs(chat)
    assert _attrs(chat)[sc.USAGE_COUNTED_IN] == format(complete.context.span_id, "016x")
    total = sum(_attrs(s).get(sc.GEN_AI_USAGE_TOTAL_TOKENS, 0) for s in spans.finished())
    assert total == 60


class _ProviderLLM(ScriptedLLM):
    """Its provider call opens a span the way the OpenAI integration does (``use_current=True``)."""

    def _reply(self, messages, tools):  # type: ignore[override]
        emitter = current_emitter()
        handle = emitter.start(
            ModelCall(
                name="provider", integration="openai", operation="chat", provider="openai", request_model=OPENAI_MODEL
            ),
            use_current=True,
        )
        try:
            return super()._reply(messages, tools)
        finally:
            handle.record.usage = Usage(input_tokens=self.prompt_tokens, output_tokens=self.completion_tokens)
            emitter.end(handle)


@pytest.mark.parametrize("mode", ["chat", "stream_chat", "achat", "astream_chat"])
async def test_provider_span_nests_under_the_llamaindex_span_even_inside_a_stream(spans, mode):
    llm = _ProviderLLM()
    if mode == "chat":
        llm.chat(USER)
    elif mode == "achat":
        await llm.achat(USER)
    elif mode == "stream_chat":
        stream = llm.stream_chat(USER)  # the provider is called lazily, when the stream is consumed
        list(stream)
    else:
        stream = await llm.astream_chat(USER)
        [c async for c in stream]

    outer = [s for s in spans.finished() if _attrs(s)[sc.INTEGRATION] == "llamaindex"]
    inner = [s for s in spans.finished() if _attrs(s)[sc.INTEGRATION] == "openai"]
    assert len(outer) == len(inner) == 1, spans.tree()
    assert inner[0].context.trace_id == outer[0].context.trace_id
    assert inner[0].parent.span_id == outer[0].context.span_id
    # counted once: on the provider's span
    assert _attrs(inner[0])[sc.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in _attrs(outer[0])
    assert _attrs(outer[0])[sc.USAGE_COUNTED_IN] == format(inner[0].context.span_id, "016x")


async def test_provider_span_inside_an_agent_stream_lands_in_the_agent_trace(spans):
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.tools import FunctionTool

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    await FunctionAgent(tools=[FunctionTool.from_defaults(add)], llm=_ProviderLLM(), streaming=True).run("1+1?")
    assert len(spans.traces()) == 1, spans.tree()
    providers = [s for s in spans.finished() if _attrs(s)[sc.INTEGRATION] == "openai"]
    assert len(providers) == 2
    for provider in providers:
        parent = next(s for s in spans.finished() if s.context.span_id == provider.parent.span_id)
        assert parent.name == MODEL_SPAN and _attrs(parent)[sc.INTEGRATION] == "llamaindex"
    assert sum(_attrs(s).get(sc.GEN_AI_USAGE_INPUT_TOKENS, 0) for s in spans.finished()) == 240
