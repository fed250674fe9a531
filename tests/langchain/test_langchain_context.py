"""Spans of other integrations made inside LangChain code nest under the LangChain run that encloses
them, and a model call seen twice (chat model + provider SDK) is counted once.

"Another integration" is played by the core emitter itself (what the OpenAI SDK integration calls):
a ModelCall started with the default ``use_current=True``, exactly as a provider span would be.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

import threadline
from scenarios.chat_models import MODEL, ScriptedChatModel, usage
from tests.kit import attrs, parent_of
from threadline import semconv as sc
from threadline.integration import current_emitter
from threadline.records import ModelCall
from threadline.testing import capture
from threadline.usage import Usage

SDK_SPAN = "chat gpt-4o-mini-2024-07-18"


def _sdk_call(input_tokens: int = 100, output_tokens: int = 10) -> None:
    """What a provider SDK integration does: a model-call span under whatever encloses the running code."""
    emitter = current_emitter()
    handle = emitter.start(
        ModelCall(name="sdk", integration="sdk", provider="openai", request_model="gpt-4o-mini-2024-07-18")
    )
    handle.record.usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    emitter.end(handle)


class _ModelOverSdk(ScriptedChatModel):
    """A chat model whose generation calls the (instrumented) provider SDK, like ChatOpenAI."""

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        _sdk_call()
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Iterator[Any]:
        yield ChatGenerationChunk(message=AIMessageChunk(content="str"))
        _sdk_call()  # a lazily read SDK stream: the provider span starts after the first chunk
        yield ChatGenerationChunk(message=AIMessageChunk(content="eamed", usage_metadata=usage(100, 10)))


def _assert_counted_once(spans: Any) -> None:
    outer = spans.one(f"chat {MODEL}")
    inner = spans.one(SDK_SPAN)
    assert parent_of(spans, inner) is not None
    assert parent_of(spans, inner).context.span_id == outer.context.span_id
    a_outer, a_inner = attrs(outer), attrs(inner)
    assert a_inner[sc.GEN_AI_USAGE_INPUT_TOKENS] == 100
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in a_outer
    assert sc.GEN_AI_USAGE_COST not in a_outer
    assert a_outer[sc.USAGE_COUNTED_IN] == format(inner.context.span_id, "016x")
    with_usage = [s for s in spans.finished() if sc.GEN_AI_USAGE_INPUT_TOKENS in attrs(s)]
    assert with_usage == [inner]


def test_a_provider_call_inside_a_chat_model_invoke_nests_and_is_counted_once() -> None:
    with capture(integrations=["langchain"]) as spans:
        _ModelOverSdk(script=["done"], reply_usage=usage(100, 10)).invoke("hi")
    _assert_counted_once(spans)


def test_a_provider_call_inside_a_chat_model_stream_nests_and_is_counted_once() -> None:
    with capture(integrations=["langchain"]) as spans:
        assert "".join(str(c.content) for c in _ModelOverSdk(script=["x"]).stream("hi")) == "streamed"
    _assert_counted_once(spans)


async def test_a_provider_call_inside_async_model_calls_nests_and_is_counted_once() -> None:
    model = _ModelOverSdk(script=["done"], reply_usage=usage(100, 10))
    with capture(integrations=["langchain"]) as spans:
        await model.ainvoke("hi")
    _assert_counted_once(spans)
    with capture(integrations=["langchain"]) as spans:
        assert "".join([str(c.content) async for c in model.astream("hi")]) == "streamed"
    _assert_counted_once(spans)


def test_a_provider_call_inside_a_tool_nests_under_the_tool() -> None:
    @tool
    def lookup(order_id: str) -> str:
        """Look an order up."""
        _sdk_call()
        return "shipped"

    with capture(integrations=["langchain"]) as spans:
        lookup.invoke({"order_id": "A-1"})
    assert parent_of(spans, spans.one(SDK_SPAN)).name == "execute_tool lookup"


@pytest.mark.parametrize("run", ["invoke", "ainvoke"])
async def test_a_provider_call_inside_a_runnable_lambda_nests_under_it(run: str) -> None:
    def body(x: Any) -> Any:
        _sdk_call()
        return x

    chain = RunnableLambda(lambda x: x, name="first") | RunnableLambda(body, name="body")
    with capture(integrations=["langchain"]) as spans:
        if run == "invoke":
            chain.invoke(1)
        else:
            await chain.ainvoke(1)
    assert parent_of(spans, spans.one(SDK_SPAN)).name == "body"
    assert len(spans.traces()) == 1


def test_a_chain_called_in_an_observed_function_nests_under_it() -> None:
    model = ScriptedChatModel(script=["ok"], reply_usage=usage(2, 1))

    @threadline.observe(name="rerank")
    def rerank(x: Any) -> Any:
        return model.invoke(x)

    chain = RunnableLambda(lambda x: x, name="first") | RunnableLambda(rerank, name="step")
    with capture(integrations=["langchain"]) as spans:
        chain.invoke("hi")
    assert parent_of(spans, spans.one("rerank")).name == "step"
    assert parent_of(spans, spans.one(f"chat {MODEL}")).name == "rerank"
    assert len(spans.traces()) == 1


def test_a_chain_under_an_observed_root_joins_its_trace_and_session() -> None:
    @threadline.observe(name="handle-turn")
    def handle_turn() -> Any:
        return ScriptedChatModel(script=["ok"], reply_usage=usage(2, 1)).invoke("hi")

    with capture(integrations=["langchain"]) as spans, threadline.session("turns-1"):
        handle_turn()
    assert parent_of(spans, spans.one(f"chat {MODEL}")).name == "handle-turn"
    assert {attrs(s)[sc.SESSION_ID] for s in spans.finished()} == {"turns-1"}


async def test_wrappers_leave_no_context_behind_even_when_streams_close_early() -> None:
    from opentelemetry import context as otel_context

    from threadline.emitter import handle_in
    from threadline_langchain._slots import MODEL_SLOT

    model = ScriptedChatModel(script=["one two three"], reply_usage=usage(3, 3))
    with capture(integrations=["langchain"]):
        before = otel_context.get_current()
        stream = model.stream("hi")
        next(stream)
        assert handle_in(otel_context.get_current()) is None  # attached only while the model's code runs
        stream.close()
        astream = model.astream("hi")
        await astream.__anext__()
        await astream.aclose()
        model.invoke("hi")
        await model.ainvoke("hi")
        assert otel_context.get_current() == before
        assert MODEL_SLOT.get() is None
