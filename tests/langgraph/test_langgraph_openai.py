"""The real openai client inside LangGraph nodes, replayed by vcrpy, with the OpenAI integration on.

Cassettes: ``cassettes/langchain/test_langgraph_openai/<test>.yaml`` (hand-written, chat completions API
reference shapes). A direct SDK call in a node nests under the node; ``ChatOpenAI`` in a node nests
node -> chat model -> SDK call, and its tokens and cost are on exactly one span.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph

from scenarios.openai_api import replay
from tests.kit import attrs, parent_of
from threadline import semconv as sc
from threadline.testing import CapturedSpans, capture

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "langchain" / Path(__file__).stem

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("threadline_openai") is None,
    reason="threadline_openai is not installed (pip install -e integrations/openai)",
)


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    with replay(CASSETTES / f"{request.node.originalname}.yaml") as cass:
        yield cass


@pytest.fixture
def spans() -> Iterator[CapturedSpans]:
    with capture(integrations=["langgraph", "openai"]) as captured:
        yield captured


def _one_node_graph(node: Any) -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node("work", node)
    builder.add_edge(START, "work")
    return builder.compile(name="g")


def test_an_sdk_call_in_a_node_nests_under_the_node(cassette: Any, spans: CapturedSpans) -> None:
    client = openai.OpenAI(api_key="sk-test-key", max_retries=0)

    def work(state: MessagesState) -> dict[str, Any]:
        reply = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Summarise for the agent: the parcel is two days late."}],
        )
        return {"messages": [("assistant", reply.choices[0].message.content)]}

    _one_node_graph(work).invoke({"messages": [("user", "My parcel is late")]}, {"configurable": {"thread_id": "t-9"}})

    (sdk,) = [s for s in spans.finished() if attrs(s)[sc.INTEGRATION] == "openai"]
    assert parent_of(spans, sdk).name == "work"
    assert attrs(sdk)[sc.SESSION_ID] == "t-9"
    assert attrs(sdk)[sc.GEN_AI_USAGE_INPUT_TOKENS] == 21
    assert len(spans.traces()) == 1


def test_chatopenai_in_a_node_nests_three_levels_and_counts_once(cassette: Any, spans: CapturedSpans) -> None:
    llm = ChatOpenAI(model="gpt-4o-mini", temperature=0, max_retries=0, stream_usage=True, api_key="sk-test-key")
    system = SystemMessage("You are a support agent for Acme. Answer in one sentence.")

    def work(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke([system, HumanMessage("Where is order A-1042?")])]}

    _one_node_graph(work).invoke({"messages": [("user", "Where is it?")]}, {"configurable": {"thread_id": "t-10"}})

    (sdk,) = [s for s in spans.finished() if attrs(s)[sc.INTEGRATION] == "openai"]
    chat = parent_of(spans, sdk)
    assert attrs(chat)[sc.INTEGRATION] == "langgraph" and attrs(chat)[sc.SPAN_KIND] == "model"
    assert parent_of(spans, chat).name == "work"
    carrying = [s for s in spans.finished() if sc.GEN_AI_USAGE_COST in attrs(s)]
    assert carrying == [sdk]
    assert attrs(sdk)[sc.GEN_AI_USAGE_COST] == pytest.approx((34 * 0.15 + 16 * 0.60) / 1e6)
    assert {attrs(s)[sc.SESSION_ID] for s in spans.finished()} == {"t-10"}
