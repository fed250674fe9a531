"""LangGraph graphs become traces: a graph span, node spans with step / checkpoint / triggers, models
and tools inside nodes, subgraphs, fan-out, errors, hand-offs and streams closed early."""

from __future__ import annotations

import json
import operator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import create_react_agent
from langgraph.types import Command, Send
from opentelemetry.trace import StatusCode

from scenarios.chat_models import MODEL, ScriptedChatModel, usage
from scenarios.langgraph_apps import linear_graph, turn_graph
from tests.kit import assert_agent_turn, attrs, parent_of
from threadline import semconv as sc
from threadline.testing import capture


def _turn_graph(**compile_kwargs: Any) -> Any:
    """START -> prepare -> model -> finish -> END; ``model`` calls a chat model."""
    llm = ScriptedChatModel(script=["The answer is 42."], reply_usage=usage(42, 6))
    return turn_graph(llm, **compile_kwargs)


def _shape(spans: Any) -> dict[str, Any]:
    return {s.name: (parent_of(spans, s).name if s.parent is not None else None) for s in spans.finished()}


TURN_SHAPE = {"turn": None, "prepare": "turn", "model": "turn", f"chat {MODEL}": "model", "finish": "turn"}


def test_a_graph_turn_is_a_graph_span_with_node_spans_in_the_thread_session() -> None:
    graph = _turn_graph(checkpointer=InMemorySaver(), name="turn")
    config = {"configurable": {"thread_id": "thread-1"}}
    with capture(integrations=["langgraph"]) as spans:
        result = graph.invoke({"question": "What is 6 x 7?"}, config)

    assert result["words"] == 4
    assert _shape(spans) == TURN_SHAPE
    root = spans.one("turn")
    assert attrs(root)[sc.SPAN_KIND] == "graph"
    assert attrs(root)[sc.INTEGRATION] == "langgraph"
    for span in spans.finished():
        assert attrs(span)[sc.SESSION_ID] == "thread-1", span.name
        assert attrs(span)[sc.SESSION_SOURCE] == "thread_id", span.name
        assert span.context.trace_id == root.context.trace_id

    history = {c.config["configurable"]["checkpoint_id"]: c.metadata for c in graph.get_state_history(config)}
    for step, name in enumerate(["prepare", "model", "finish"], start=1):
        a = attrs(spans.one(name))
        assert a[sc.SPAN_KIND] == "node"
        assert a[sc.GRAPH_NODE] == name
        assert a[sc.GRAPH_STEP] == step
        assert a[sc.GRAPH_CHECKPOINT_NS].startswith(f"{name}:")
        assert list(a[sc.GRAPH_TRIGGERS]) == [f"branch:to:{name}"]
        # The checkpoint the node ran from: the one LangGraph saved after the previous step.
        assert history[a[sc.GRAPH_CHECKPOINT_ID]]["step"] == step - 1
    model = attrs(spans.one(f"chat {MODEL}"))
    assert (model[sc.GEN_AI_USAGE_INPUT_TOKENS], model[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (42, 6)


@pytest.mark.parametrize("how", ["invoke", "stream", "stream_updates_and_messages", "ainvoke", "astream"])
async def test_every_way_of_running_a_graph_gives_the_same_tree(how: str) -> None:
    graph = _turn_graph(checkpointer=InMemorySaver(), name="turn")
    config = {"configurable": {"thread_id": f"thread-{how}"}}
    inputs = {"question": "What is 6 x 7?"}
    with capture(integrations=["langgraph"]) as spans:
        if how == "invoke":
            graph.invoke(inputs, config)
        elif how == "stream":
            assert len(list(graph.stream(inputs, config))) == 3
        elif how == "stream_updates_and_messages":
            modes = {mode for mode, _ in graph.stream(inputs, config, stream_mode=["updates", "messages"])}
            assert modes == {"updates", "messages"}
        elif how == "ainvoke":
            await graph.ainvoke(inputs, config)
        else:
            assert len([c async for c in graph.astream(inputs, config)]) == 3
    assert _shape(spans) == TURN_SHAPE
    assert {attrs(s)[sc.SESSION_ID] for s in spans.finished()} == {f"thread-{how}"}
    assert {attrs(s)[sc.OUTCOME] for s in spans.finished()} == {"ok"}


async def test_astream_events_gives_the_same_tree() -> None:
    graph = _turn_graph(name="turn")
    with capture(integrations=["langgraph"]) as spans:
        events = [e["event"] async for e in graph.astream_events({"question": "?"}, version="v2")]
    assert "on_chat_model_end" in events
    assert _shape(spans) == TURN_SHAPE


class Nums(TypedDict):
    x: Annotated[list, operator.add]


def _sub() -> Any:
    return linear_graph(Nums, [("s1", lambda s: {"x": ["s1"]}), ("s2", lambda s: {"x": ["s2"]})], name="sub_graph")


def test_subgraph_nodes_nest_under_the_parent_node() -> None:
    builder = StateGraph(Nums)
    builder.add_node("a", lambda s: {"x": ["a"]})
    builder.add_node("sub", _sub())
    builder.add_edge(START, "a")
    builder.add_edge("a", "sub")
    builder.add_edge("sub", END)
    graph = builder.compile(checkpointer=InMemorySaver(), name="parent_graph")
    with capture(integrations=["langgraph"]) as spans:
        graph.invoke({"x": []}, {"configurable": {"thread_id": "sub-1"}})

    assert _shape(spans) == {
        "parent_graph": None,
        "a": "parent_graph",
        "sub": "parent_graph",
        "sub_graph": "sub",
        "s1": "sub_graph",
        "s2": "sub_graph",
    }
    kinds = {s.name: attrs(s)[sc.SPAN_KIND] for s in spans.finished()}
    assert kinds == {
        "parent_graph": "graph",
        "a": "node",
        "sub": "node",
        "sub_graph": "graph",
        "s1": "node",
        "s2": "node",
    }
    s1 = attrs(spans.one("s1"))
    assert s1[sc.GRAPH_CHECKPOINT_NS].startswith("sub:") and "|s1:" in s1[sc.GRAPH_CHECKPOINT_NS]
    assert {attrs(s)[sc.SESSION_ID] for s in spans.finished()} == {"sub-1"}


def test_a_subgraph_invoked_inside_a_node_function_nests_under_that_node() -> None:
    sub = _sub()
    builder = StateGraph(Nums)
    builder.add_node("call", lambda s: {"x": sub.invoke({"x": []})["x"]})
    builder.add_edge(START, "call")
    graph = builder.compile(name="outer")
    with capture(integrations=["langgraph"]) as spans:
        assert graph.invoke({"x": []})["x"] == ["s1", "s2"]
    assert _shape(spans) == {"outer": None, "call": "outer", "sub_graph": "call", "s1": "sub_graph", "s2": "sub_graph"}


def test_send_fan_out_and_parallel_branches_are_siblings() -> None:
    builder = StateGraph(Nums)
    builder.add_node("left", lambda s: {"x": ["left"]})
    builder.add_node("right", lambda s: {"x": ["right"]})
    builder.add_node("worker", lambda s: {"x": [f"w{s['x'][0]}"]})
    builder.add_edge(START, "left")
    builder.add_edge(START, "right")
    builder.add_conditional_edges("left", lambda s: [Send("worker", {"x": [i]}) for i in range(3)], ["worker"])
    builder.add_edge("worker", END)
    builder.add_edge("right", END)
    graph = builder.compile(name="fan")
    with capture(integrations=["langgraph"]) as spans:
        out = graph.invoke({"x": []})
    assert sorted(out["x"]) == ["left", "right", "w0", "w1", "w2"]

    root = spans.one("fan")
    nodes = [s for s in spans.children(root)]
    assert sorted(s.name for s in nodes) == ["left", "right", "worker", "worker", "worker"]
    assert {attrs(s)[sc.GRAPH_STEP] for s in nodes if s.name in ("left", "right")} == {1}
    workers = [s for s in nodes if s.name == "worker"]
    assert {attrs(s)[sc.GRAPH_STEP] for s in workers} == {2}
    # A Send payload is not the graph state: it is recorded; the state-reading nodes record their update only.
    assert sorted(json.loads(attrs(s)[sc.OI_INPUT_VALUE])["x"][0] for s in workers) == [0, 1, 2]
    assert all(sc.OI_INPUT_VALUE not in attrs(s) for s in nodes if s.name in ("left", "right"))
    assert len({attrs(s)[sc.GRAPH_CHECKPOINT_NS] for s in workers}) == 3
    assert {tuple(attrs(s)[sc.GRAPH_TRIGGERS]) for s in workers} == {("__pregel_push",)}


def test_an_error_in_a_node_is_still_an_error() -> None:
    def bad(state: Nums) -> Any:
        raise ValueError("the warehouse API is down")

    builder = StateGraph(Nums)
    builder.add_node("bad", bad)
    builder.add_edge(START, "bad")
    graph = builder.compile(name="g", checkpointer=InMemorySaver())
    with capture(integrations=["langgraph"]) as spans, pytest.raises(ValueError):
        graph.invoke({"x": []}, {"configurable": {"thread_id": "err-1"}})

    for name in ("g", "bad"):
        span = spans.one(name)
        assert span.status.status_code is StatusCode.ERROR, name
        assert attrs(span)[sc.OUTCOME] == "error"
        assert attrs(span)[sc.ERROR_TYPE] == "ValueError"


def test_a_parent_command_hand_off_is_not_an_error() -> None:
    child = StateGraph(Nums)
    child.add_node("hand_off", lambda s: Command(graph=Command.PARENT, goto="after", update={"x": ["handed"]}))
    child.add_edge(START, "hand_off")
    builder = StateGraph(Nums)
    builder.add_node("team", child.compile(name="team_graph"), destinations=("after",))
    builder.add_node("after", lambda s: {"x": ["after"]})
    builder.add_edge(START, "team")
    builder.add_edge("after", END)
    with capture(integrations=["langgraph"]) as spans:
        assert builder.compile(name="g").invoke({"x": []})["x"] == ["handed", "after"]

    assert {s.name for s in spans.finished()} == {"g", "team", "team_graph", "hand_off", "after"}
    for span in spans.finished():
        assert span.status.status_code is StatusCode.UNSET, span.name
        assert attrs(span)[sc.OUTCOME] == "ok", span.name


def test_a_stream_closed_early_ends_cancelled_not_error() -> None:
    graph = _turn_graph(checkpointer=InMemorySaver(), name="turn")
    with capture(integrations=["langgraph"]) as spans:
        stream = graph.stream({"question": "?"}, {"configurable": {"thread_id": "closed-1"}})
        next(stream)
        stream.close()

    root = spans.one("turn")
    assert attrs(root)[sc.OUTCOME] == "cancelled"
    for span in spans.finished():
        assert span.status.status_code is StatusCode.UNSET, span.name
    assert attrs(spans.one("prepare"))[sc.OUTCOME] == "ok"


async def test_an_async_stream_closed_early_ends_cancelled_not_error() -> None:
    graph = _turn_graph(checkpointer=InMemorySaver(), name="turn")
    with capture(integrations=["langgraph"]) as spans:
        stream = graph.astream({"question": "?"}, {"configurable": {"thread_id": "closed-2"}})
        await stream.__anext__()
        await stream.aclose()

    assert attrs(spans.one("turn"))[sc.OUTCOME] == "cancelled"
    assert all(s.status.status_code is StatusCode.UNSET for s in spans.finished())


def test_a_messages_graph_reads_like_a_conversation_at_its_root() -> None:
    llm = ScriptedChatModel(script=["Hello! How can I help?"], reply_usage=usage(12, 7))
    builder = StateGraph(MessagesState)
    builder.add_node("chat", lambda s: {"messages": [llm.invoke(s["messages"])]})
    builder.add_edge(START, "chat")
    graph = builder.compile(checkpointer=InMemorySaver(), name="assistant")
    with capture(integrations=["langgraph"]) as spans:
        graph.invoke({"messages": [("user", "Hi there")]}, {"configurable": {"thread_id": "conv-1"}})

    root = attrs(spans.one("assistant"))
    assert root[sc.OI_INPUT_VALUE] == "Hi there"
    assert root[sc.OI_OUTPUT_VALUE] == "Hello! How can I help?"
    node = attrs(spans.one("chat"))
    assert json.loads(node[sc.OI_OUTPUT_VALUE])["messages"][0]["content"] == "Hello! How can I help?"
    assert sc.OI_INPUT_VALUE not in node  # the state it read: the root's input and the earlier updates
    assert node[sc.GRAPH_CHECKPOINT_ID]  # where that state is kept


def test_node_inputs_full_records_each_node_input_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_LANGGRAPH_NODE_INPUTS", "full")
    graph = _chatbot()
    with capture(integrations=["langgraph"]) as spans:
        graph.invoke({"messages": [("user", "Hi there")]}, {"configurable": {"thread_id": "conv-full"}})

    node = json.loads(attrs(spans.one("chat"))[sc.OI_INPUT_VALUE])
    assert node["messages"][0]["role"] == "user" and node["messages"][0]["content"] == "Hi there"


def _chatbot() -> Any:
    llm = ScriptedChatModel(script=[f"Answer {i:02d}." for i in range(40)], reply_usage=usage(12, 7))
    builder = StateGraph(MessagesState)
    builder.add_node("chat", lambda s: {"messages": [llm.invoke(s["messages"])]})
    builder.add_edge(START, "chat")
    return builder.compile(checkpointer=InMemorySaver(), name="assistant")


def _recorded(span: Any) -> tuple[int, int]:
    """How many attributes a span has and the characters of its text values (numbers such as the step left out)."""
    values = (span.attributes or {}).values()
    return len(values), sum(len(v) for v in values if isinstance(v, str))


def test_a_node_span_records_as_much_at_turn_30_as_at_turn_2() -> None:
    """A node records its update, not the whole history: the graph and node spans stay flat as the chat grows.

    (The model span does carry the whole history: it is what the model was sent.)
    """
    graph = _chatbot()
    config = {"configurable": {"thread_id": "long-conversation"}}
    recorded: dict[int, list[tuple[str, tuple[int, int]]]] = {}
    with capture(integrations=["langgraph"], dialects=()) as spans:
        for i in range(30):
            spans.clear()
            graph.invoke({"messages": [("user", f"Question {i:02d}?")]}, config)
            recorded[i] = sorted((s.name, _recorded(s)) for s in spans.finished() if s.name in ("chat", "assistant"))
    assert [name for name, _ in recorded[29]] == ["assistant", "chat"]
    assert recorded[29] == recorded[1]


@tool
def get_order_status(order_id: str) -> str:
    """The shipping status of an order."""
    return f"Order {order_id} shipped yesterday."


@pytest.mark.filterwarnings("ignore:create_react_agent has been moved")
def test_the_prebuilt_agent_is_an_agent_span_with_model_and_tool_spans() -> None:
    model = ScriptedChatModel(
        script=[
            AIMessage("", tool_calls=[{"name": "get_order_status", "args": {"order_id": "A-1"}, "id": "call_1"}]),
            "Your order A-1 shipped yesterday.",
        ],
        reply_usage=usage(150, 20, cache_read=128),
    )
    agent = create_react_agent(model, [get_order_status], checkpointer=InMemorySaver(), name="support_agent")
    with capture(integrations=["langgraph"]) as spans:
        out = agent.invoke({"messages": [("user", "Where is A-1?")]}, {"configurable": {"thread_id": "agent-1"}})
    assert out["messages"][-1].content == "Your order A-1 shipped yesterday."

    root = spans.one("support_agent")
    assert_agent_turn(root, "support_agent", "Where is A-1?", "Your order A-1 shipped yesterday.")

    tool_span = spans.one("execute_tool get_order_status")
    assert parent_of(spans, tool_span).name == "tools"
    assert attrs(parent_of(spans, tool_span))[sc.SPAN_KIND] == "node"
    assert attrs(tool_span)[sc.GEN_AI_TOOL_CALL_ID] == "call_1"
    models = spans.of_kind("model")
    assert len(models) == 2
    for span in models:
        node = span
        while attrs(node)[sc.SPAN_KIND] != "node":
            node = parent_of(spans, node)
        assert node.name == "agent"
    assert sum(attrs(s)[sc.GEN_AI_USAGE_INPUT_TOKENS] for s in models) == 300
    assert sum(attrs(s)[sc.GEN_AI_USAGE_COST] for s in models) == pytest.approx(
        2 * (22 * 0.15 + 128 * 0.075 + 20 * 0.6) / 1e6
    )
    assert {attrs(s)[sc.SESSION_ID] for s in spans.finished()} == {"agent-1"}


def test_a_create_agent_graph_is_recognised_by_its_metadata() -> None:
    # What langchain.agents.create_agent binds on the graph it compiles (langchain 1.x, factory.py).
    builder = StateGraph(MessagesState)
    builder.add_node("model", lambda s: {"messages": [AIMessage("hello")]})
    builder.add_edge(START, "model")
    agent = builder.compile(name="helper").with_config(
        {"metadata": {"ls_integration": "langchain_create_agent", "lc_agent_name": "helper"}}
    )
    with capture(integrations=["langgraph"]) as spans:
        agent.invoke({"messages": [("user", "hi")]})
    root = attrs(spans.one("helper"))
    assert root[sc.SPAN_KIND] == "agent"
    assert root[sc.GEN_AI_AGENT_NAME] == "helper"
    assert attrs(spans.one("model"))[sc.SPAN_KIND] == "node"


def test_an_explicit_session_wins_over_the_thread_id() -> None:
    import threadline

    graph = _turn_graph(checkpointer=InMemorySaver(), name="turn")
    with capture(integrations=["langgraph"]) as spans, threadline.session("support-case-7", user_id="agent-3"):
        graph.invoke({"question": "?"}, {"configurable": {"thread_id": "thread-x"}})
    assert {attrs(s)[sc.SESSION_ID] for s in spans.finished()} == {"support-case-7"}
    assert {attrs(s)[sc.USER_ID] for s in spans.finished()} == {"agent-3"}


def test_an_unknown_node_inputs_value_is_one_warning_and_the_default(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("THREADLINE_LANGGRAPH_NODE_INPUTS", "everything")
    with caplog.at_level("WARNING", logger="threadline"), capture(integrations=["langgraph"]) as spans:
        _chatbot().invoke({"messages": [("user", "Hi")]}, {"configurable": {"thread_id": "odd-option"}})
    assert [r.getMessage() for r in caplog.records if "NODE_INPUTS" in r.getMessage()] == [
        "threadline: THREADLINE_LANGGRAPH_NODE_INPUTS='everything' is not 'update' or 'full'; using 'update'"
    ]
    assert sc.OI_INPUT_VALUE not in attrs(spans.one("chat"))
