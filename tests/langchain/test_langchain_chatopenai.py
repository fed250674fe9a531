"""``ChatOpenAI`` over the real openai client, replayed by vcrpy, with the OpenAI integration on and off.

Cassettes: ``cassettes/langchain/test_langchain_chatopenai/<test>.yaml``, written by hand to match the
chat completions API reference (a JSON body; for streams an SSE body with the
``stream_options.include_usage`` usage chunk, ending with ``data: [DONE]`` and a blank line).
Requests are matched on their JSON body too, since streamed and plain calls share a URL.

With the OpenAI integration on, the SDK's span nests under the ChatOpenAI span and exactly one span
carries the usage and the cost; with it off, the ChatOpenAI span carries them.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from scenarios.openai_api import replay
from tests.kit import attrs, parent_of
from threadline import semconv as sc
from threadline.testing import CapturedSpans, capture

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "langchain" / Path(__file__).stem
SYSTEM = "You are a support agent for Acme. Answer in one sentence."
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
OPENAI_ON = "langchain+openai"


def _rate(prompt: int, completion: int) -> float:
    """gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens."""
    return (prompt * 0.15 + completion * 0.60) / 1e6


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    with replay(CASSETTES / f"{request.node.originalname}.yaml") as cass:
        yield cass


@pytest.fixture(params=["langchain", OPENAI_ON])
def spans(request: pytest.FixtureRequest) -> Iterator[CapturedSpans]:
    integrations = ["langchain"]
    if request.param == OPENAI_ON:
        if importlib.util.find_spec("threadline_openai") is None:
            pytest.skip("threadline_openai is not installed (pip install -e integrations/openai)")
        integrations.append("openai")
    with capture(integrations=integrations) as captured:
        captured.openai_on = request.param == OPENAI_ON  # type: ignore[attr-defined]
        yield captured


def _model() -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", temperature=0, max_retries=0, stream_usage=True, api_key="sk-test-key")


def _messages(question: str) -> list[Any]:
    return [SystemMessage(SYSTEM), HumanMessage(question)]


def _check(spans: CapturedSpans, prompt: int, completion: int, answer: str, streamed: bool) -> None:
    chat = [s for s in spans.finished() if attrs(s)[sc.INTEGRATION] == "langchain"]
    assert len(chat) == 1
    outer = chat[0]
    a = attrs(outer)
    assert outer.name == "chat gpt-4o-mini"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == RESPONSE_MODEL
    # One list of messages of typed parts (not a lone object), with the finish reason.
    (message,) = json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])
    assert message == {"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}
    assert json.loads(a[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": SYSTEM}]
    assert a[f"{sc.OI_LLM_INPUT_MESSAGES}.0.{sc.OI_MESSAGE_ROLE}"] == "system"
    assert a[f"{sc.OI_LLM_OUTPUT_MESSAGES}.0.{sc.OI_MESSAGE_CONTENT}"] == answer
    assert json.loads(a[sc.OI_LLM_INVOCATION_PARAMETERS])["temperature"] == 0
    if streamed:
        assert a[sc.TIME_TO_FIRST_TOKEN] >= 0

    carrying = [s for s in spans.finished() if sc.GEN_AI_USAGE_INPUT_TOKENS in attrs(s)]
    assert len(carrying) == 1, "the tokens of one call must be counted exactly once"
    counted = attrs(carrying[0])
    assert (counted[sc.GEN_AI_USAGE_INPUT_TOKENS], counted[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (prompt, completion)
    assert counted[sc.GEN_AI_USAGE_COST] == pytest.approx(_rate(prompt, completion), rel=1e-9)
    assert len([s for s in spans.finished() if sc.GEN_AI_USAGE_COST in attrs(s)]) == 1

    if spans.openai_on:  # type: ignore[attr-defined]
        (sdk,) = [s for s in spans.finished() if attrs(s)[sc.INTEGRATION] == "openai"]
        assert parent_of(spans, sdk).context.span_id == outer.context.span_id
        assert sdk.context.trace_id == outer.context.trace_id
        assert carrying == [sdk]
        assert a[sc.USAGE_COUNTED_IN] == format(sdk.context.span_id, "016x")
    else:
        assert [s.name for s in spans.finished()] == ["chat gpt-4o-mini"]
        assert carrying == [outer]


def test_invoke(cassette: Any, spans: CapturedSpans) -> None:
    reply = _model().invoke(_messages("Where is order A-1042?"))
    answer = "Order A-1042 shipped yesterday and should arrive within two business days."
    assert reply.content == answer
    _check(spans, 34, 16, answer, streamed=False)


async def test_ainvoke(cassette: Any, spans: CapturedSpans) -> None:
    reply = await _model().ainvoke(_messages("Can I change my delivery address?"))
    answer = "Yes, you can change it from your account page until the order ships."
    assert reply.content == answer
    _check(spans, 35, 15, answer, streamed=False)


def test_stream(cassette: Any, spans: CapturedSpans) -> None:
    text = "".join(str(chunk.content) for chunk in _model().stream(_messages("Do you ship to Canada?")))
    assert text == "Yes, we ship to Canada within five business days."
    _check(spans, 33, 11, text, streamed=True)


async def test_astream(cassette: Any, spans: CapturedSpans) -> None:
    chunks = [chunk async for chunk in _model().astream(_messages("How do I return an item?"))]
    text = "".join(str(chunk.content) for chunk in chunks)
    assert text == "Start a return from your orders page within 30 days."
    _check(spans, 33, 11, text, streamed=True)
