"""LangChain runs become spans: chains, chat models, tools, retrievers; usage, cost, errors, streams."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from opentelemetry.trace import StatusCode

from scenarios.chat_models import MODEL, RESPONSE_MODEL, ScriptedChatModel, usage
from tests.kit import attrs, parent_of
from threadline import semconv as sc
from threadline.testing import capture


def _chain(model: Any) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "You are terse."), ("user", "{question}")])
    return prompt | model | StrOutputParser()


def test_a_chain_is_a_tree_of_chain_and_model_spans() -> None:
    model = ScriptedChatModel(script=["Paris."], reply_usage=usage(21, 3))
    with capture(integrations=["langchain"]) as spans:
        answer = _chain(model).invoke({"question": "Capital of France?"})

    assert answer == "Paris."
    root = spans.one("RunnableSequence")
    assert root.parent is None
    assert [s.name for s in spans.children(root)] == ["ChatPromptTemplate", f"chat {MODEL}", "StrOutputParser"]
    assert attrs(root)[sc.SPAN_KIND] == "chain"
    assert attrs(root)[sc.OI_SPAN_KIND] == sc.OI_KIND_CHAIN
    assert json.loads(attrs(root)[sc.OI_INPUT_VALUE]) == {"question": "Capital of France?"}
    assert attrs(root)[sc.OI_OUTPUT_VALUE] == "Paris."
    assert {attrs(s)[sc.INTEGRATION] for s in spans.finished()} == {"langchain"}
    assert {attrs(s)[sc.OUTCOME] for s in spans.finished()} == {"ok"}


def test_a_chat_model_span_has_messages_model_provider_usage_and_cost() -> None:
    model = ScriptedChatModel(script=["Paris."], reply_usage=usage(1200, 40, cache_read=1024, reasoning=8))
    with capture(integrations=["langchain"]) as spans:
        model.invoke([HumanMessage("Capital of France?")])

    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.SPAN_KIND] == "model"
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.GEN_AI_REQUEST_MODEL] == MODEL
    assert a[sc.GEN_AI_RESPONSE_MODEL] == RESPONSE_MODEL
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.0
    assert a[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-test"
    assert list(a[sc.GEN_AI_RESPONSE_FINISH_REASONS]) == ["stop"]
    assert json.loads(a[sc.OI_INPUT_VALUE]) == [{"role": "user", "content": "Capital of France?"}]
    assert json.loads(a[sc.OI_OUTPUT_VALUE]) == [{"role": "assistant", "content": "Paris."}]
    assert json.loads(a[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]}
    ]
    assert json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}
    ]
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1200
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 40
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1024
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 8
    assert a[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 1240
    expected = calc_price(
        PriceUsage(input_tokens=1200, cache_read_tokens=1024, output_tokens=40),
        model_ref=RESPONSE_MODEL,
        provider_id="openai",
    ).total_price
    assert Decimal(str(a[sc.GEN_AI_USAGE_COST])).quantize(Decimal("1e-9")) == expected.quantize(Decimal("1e-9"))
    # by hand: 176 uncached x $0.15/M + 1024 cached x $0.075/M + 40 out x $0.60/M
    assert a[sc.GEN_AI_USAGE_COST] == pytest.approx((176 * 0.15 + 1024 * 0.075 + 40 * 0.60) / 1e6)
    assert sc.TIME_TO_FIRST_TOKEN not in a  # not streamed


class _LegacyUsageModel(ScriptedChatModel):
    """A model that reports usage only in ``llm_output["token_usage"]`` (OpenAI's shape)."""

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        message = AIMessage(content="ok")
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={
                "token_usage": {
                    "prompt_tokens": 50,
                    "completion_tokens": 5,
                    "total_tokens": 55,
                    "prompt_tokens_details": {"cached_tokens": 32},
                },
                "model_name": RESPONSE_MODEL,
            },
        )


def test_usage_falls_back_to_llm_output_token_usage() -> None:
    with capture(integrations=["langchain"]) as spans:
        _LegacyUsageModel(script=["unused"]).invoke("hi")

    a = attrs(spans.one(f"chat {MODEL}"))
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (50, 5)
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 32
    assert a[sc.GEN_AI_RESPONSE_MODEL] == RESPONSE_MODEL
    assert a[sc.GEN_AI_USAGE_COST] == pytest.approx((18 * 0.15 + 32 * 0.075 + 5 * 0.60) / 1e6)


def test_a_streamed_model_call_records_time_to_first_token_and_usage() -> None:
    model = ScriptedChatModel(script=["It is sunny."], reply_usage=usage(30, 4))
    with capture(integrations=["langchain"]) as spans:
        chunks = list(model.stream("Weather?"))

    assert "".join(str(c.content) for c in chunks) == "It is sunny."
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.GEN_AI_REQUEST_STREAM] is True
    assert a[sc.TIME_TO_FIRST_TOKEN] >= 0
    assert a[sc.END_REASON] == "completed"
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (30, 4)
    assert json.loads(a[sc.OI_OUTPUT_VALUE])[0]["content"] == "It is sunny."


def test_a_text_completion_llm_is_a_model_span() -> None:
    with capture(integrations=["langchain"]) as spans:
        FakeListLLM(responses=["42"]).invoke("The answer?")

    (span,) = spans.of_kind("model")
    a = attrs(span)
    assert a[sc.GEN_AI_OPERATION_NAME] == "text_completion"
    assert a[sc.OI_INPUT_VALUE] == "The answer?"
    assert a[sc.OI_OUTPUT_VALUE] == "42"


def test_tools_are_tool_spans_with_arguments_and_result() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    with capture(integrations=["langchain"]) as spans:
        message = add.invoke({"type": "tool_call", "name": "add", "args": {"a": 2, "b": 3}, "id": "call_7"})

    assert message.content == "5"
    a = attrs(spans.one("execute_tool add"))
    assert a[sc.SPAN_KIND] == "tool"
    assert a[sc.GEN_AI_TOOL_NAME] == "add"
    assert a[sc.GEN_AI_TOOL_CALL_ID] == "call_7"
    assert json.loads(a[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"a": 2, "b": 3}
    assert a[sc.GEN_AI_TOOL_CALL_RESULT] == "5"


class _Docs(BaseRetriever):
    """Returns two fixed documents."""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(page_content="Support is open 9-17.", metadata={"source": "faq.md"}),
            Document(page_content="Refunds take 5 days.", metadata={"source": "refunds.md"}),
        ]


def test_retrievers_are_retrieval_spans_with_query_and_documents() -> None:
    retriever = _Docs()
    chain = retriever | RunnableLambda(lambda docs: "\n".join(d.page_content for d in docs), name="join")
    with capture(integrations=["langchain"]) as spans:
        chain.invoke("When is support open?")

    (span,) = spans.of_kind("retrieval")
    a = attrs(span)
    assert span.name == "_Docs"
    assert a[sc.GEN_AI_OPERATION_NAME] == "retrieval"
    assert a[sc.OI_INPUT_VALUE] == "When is support open?"
    docs = json.loads(a[sc.OI_OUTPUT_VALUE])
    assert [d["content"] for d in docs] == ["Support is open 9-17.", "Refunds take 5 days."]
    assert docs[0]["metadata"] == {"source": "faq.md"}
    assert parent_of(spans, span).name == "RunnableSequence"


def test_hidden_chain_runs_are_folded_but_model_calls_under_them_are_kept() -> None:
    model = ScriptedChatModel(script=["hi"], reply_usage=usage(5, 1))
    inner = RunnableLambda(lambda x: model.invoke(x), name="inner")
    # LangChain tags are inherited: everything under "hidden" carries the tag too.
    hidden = RunnableLambda(lambda x: inner.invoke(x), name="hidden").with_config(tags=["langsmith:hidden"])
    outer = RunnableLambda(lambda x: hidden.invoke(x), name="outer")
    with capture(integrations=["langchain"]) as spans:
        assert outer.invoke("hello").content == "hi"

    assert sorted(s.name for s in spans.finished()) == [f"chat {MODEL}", "outer"]
    model_span = spans.one(f"chat {MODEL}")
    assert parent_of(spans, model_span).name == "outer"
    assert attrs(model_span)[sc.GEN_AI_USAGE_INPUT_TOKENS] == 5  # tokens are never hidden


def test_an_error_is_an_error_on_the_run_that_raised_and_its_ancestors() -> None:
    def explode(_: Any) -> Any:
        raise ValueError("no such city")

    chain = RunnableLambda(lambda x: x, name="first") | RunnableLambda(explode, name="explode")
    with capture(integrations=["langchain"]) as spans, pytest.raises(ValueError, match="no such city"):
        chain.invoke("Atlantis")

    failed = spans.one("explode")
    assert failed.status.status_code is StatusCode.ERROR
    assert attrs(failed)[sc.OUTCOME] == "error"
    assert attrs(failed)[sc.ERROR_TYPE] == "ValueError"
    assert attrs(spans.one("RunnableSequence"))[sc.OUTCOME] == "error"
    assert attrs(spans.one("first"))[sc.OUTCOME] == "ok"
    assert spans.one("first").status.status_code is StatusCode.UNSET


def test_a_model_error_is_an_error() -> None:
    model = ScriptedChatModel(script=["x"], fail_with=RuntimeError("rate limited"))
    with capture(integrations=["langchain"]) as spans, pytest.raises(RuntimeError):
        model.invoke("hi")

    span = spans.one(f"chat {MODEL}")
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE] == "RuntimeError"


def test_a_stream_closed_early_ends_cancelled_not_error() -> None:
    model = ScriptedChatModel(script=["one two three four five"], reply_usage=usage(10, 5))
    with capture(integrations=["langchain"]) as spans:
        stream = _chain(model).stream({"question": "count"})
        assert next(stream) == "one"
        stream.close()

    for span in spans.finished():
        assert span.status.status_code is StatusCode.UNSET, span.name
    model_span = attrs(spans.one(f"chat {MODEL}"))
    assert model_span[sc.OUTCOME] == "cancelled"
    assert model_span[sc.END_REASON] == "closed_early"
    assert attrs(spans.one("RunnableSequence"))[sc.OUTCOME] == "cancelled"


def test_a_model_stream_closed_early_ends_cancelled() -> None:
    model = ScriptedChatModel(script=["one two three"], reply_usage=usage(10, 5))
    with capture(integrations=["langchain"]) as spans:
        stream = model.stream("count")
        next(stream)
        stream.close()

    span = spans.one(f"chat {MODEL}")
    assert attrs(span)[sc.OUTCOME] == "cancelled"
    assert span.status.status_code is StatusCode.UNSET


async def test_an_async_stream_closed_early_ends_cancelled() -> None:
    model = ScriptedChatModel(script=["one two three"], reply_usage=usage(10, 5))
    with capture(integrations=["langchain"]) as spans:
        stream = _chain(model).astream({"question": "count"})
        assert await stream.__anext__() == "one"
        await stream.aclose()
        # LangChain's async pipeline does not close its inner generators: asyncio's async-generator
        # finalizer does, on the loop's next turns.
        for _ in range(20):
            await asyncio.sleep(0)

    assert attrs(spans.one(f"chat {MODEL}"))[sc.OUTCOME] == "cancelled"
    assert all(s.status.status_code is StatusCode.UNSET for s in spans.finished())


def test_content_capture_off_keeps_structure_tokens_and_cost() -> None:
    model = ScriptedChatModel(script=["secret answer"], reply_usage=usage(12, 2))
    with capture(integrations=["langchain"], capture_content=False) as spans:
        _chain(model).invoke({"question": "secret question"})

    for span in spans.finished():
        a = attrs(span)
        assert sc.OI_INPUT_VALUE not in a and sc.OI_OUTPUT_VALUE not in a, span.name
        assert "secret" not in json.dumps(a)
    a = attrs(spans.one(f"chat {MODEL}"))
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert a[sc.GEN_AI_USAGE_COST] > 0


def test_cache_writes_are_recorded_and_priced() -> None:
    reported = {
        "input_tokens": 2100,
        "output_tokens": 50,
        "total_tokens": 2150,
        "input_token_details": {"cache_read": 0, "cache_creation": 2048},
    }
    model = ScriptedChatModel(
        script=["ok"], reply_usage=reported, model_name="claude-3-5-haiku-20241022", provider="anthropic"
    )
    with capture(integrations=["langchain"]) as spans:
        model.invoke("hi")
    a = attrs(spans.one("chat claude-3-5-haiku-20241022"))
    assert a[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert a[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 2048
    expected = calc_price(
        PriceUsage(input_tokens=2100, cache_write_tokens=2048, output_tokens=50),
        model_ref="claude-3-5-haiku-20241022",
        provider_id="anthropic",
    ).total_price
    assert a[sc.GEN_AI_USAGE_COST] == pytest.approx(float(expected), rel=1e-9)


class _AnonymousModel(ScriptedChatModel):
    """Says nothing about its provider or model up front (no ``ls_*`` parameters)."""

    def _get_ls_params(self, stop: Any = None, **kwargs: Any) -> Any:
        return {"ls_model_type": "chat"}


def test_model_and_provider_come_from_the_response_when_the_model_does_not_say() -> None:
    with capture(integrations=["langchain"]) as spans:
        _AnonymousModel(script=["ok"], reply_usage=usage(10, 2)).invoke("hi")
    (span,) = spans.of_kind("model")
    a = attrs(span)
    assert sc.GEN_AI_REQUEST_MODEL not in a
    assert a[sc.GEN_AI_RESPONSE_MODEL] == RESPONSE_MODEL
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.GEN_AI_USAGE_COST] == pytest.approx((10 * 0.15 + 2 * 0.60) / 1e6)
