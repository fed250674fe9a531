"""Human in the loop: an interrupt is not an error, and a resume is a new trace in the same session,
naming what it answers and linked to the paused trace."""

from __future__ import annotations

import json
import operator
import sqlite3
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt
from opentelemetry.trace import StatusCode

from scenarios.langgraph_apps import Review, linear_graph, review_graph
from tests.kit import attrs, parent_of
from threadline import semconv as sc
from threadline.testing import CapturedSpans, capture
from threadline_langgraph._pending import PENDING


def _review_graph(checkpointer: Any = None, **kwargs: Any) -> Any:
    """draft -> review (interrupt) -> publish."""
    return review_graph(checkpointer, name="review_flow", **kwargs)


def _root(spans: CapturedSpans, trace_id: int) -> Any:
    (root,) = [s for s in spans.finished() if s.context.trace_id == trace_id and s.parent is None]
    return root


def _two_traces(spans: CapturedSpans) -> tuple[Any, Any]:
    roots = spans.roots()
    assert len(roots) == 2, spans.tree()
    return roots[0], roots[1]


def _assert_interrupted_turn(spans: CapturedSpans, root: Any, node: str, interrupt_id: str, payload: Any) -> None:
    a = attrs(root)
    assert a[sc.OUTCOME] == "interrupted"
    assert root.status.status_code is StatusCode.UNSET
    assert list(a[sc.INTERRUPT_IDS]) == [interrupt_id]
    assert json.loads(a[sc.INTERRUPT_VALUES]) == [payload]
    assert a[sc.GRAPH_CHECKPOINT_ID]
    paused = [s for s in spans.finished() if s.context.trace_id == root.context.trace_id and s.name == node]
    assert len(paused) == 1
    n = attrs(paused[0])
    assert n[sc.OUTCOME] == "interrupted"
    assert paused[0].status.status_code is StatusCode.UNSET
    assert list(n[sc.INTERRUPT_IDS]) == [interrupt_id]
    assert json.loads(n[sc.INTERRUPT_VALUES]) == [payload]
    assert [e.name for e in paused[0].events] == [sc.EVENT_INTERRUPT]
    for span in spans.finished():
        assert span.status.status_code is not StatusCode.ERROR, span.name


def _assert_resume(resumed: Any, paused_root: Any, interrupt_ids: list[str], value: Any) -> None:
    a = attrs(resumed)
    assert resumed.context.trace_id != paused_root.context.trace_id
    assert a[sc.RESUME] is True
    assert list(a[sc.RESUME_INTERRUPT_IDS]) == interrupt_ids
    assert json.loads(a[sc.RESUME_VALUE]) == value if not isinstance(value, str) else a[sc.RESUME_VALUE] == value
    assert a[sc.RESUME_CHECKPOINT_ID] == attrs(paused_root)[sc.GRAPH_CHECKPOINT_ID]
    assert a[sc.RESUME_TRACE_ID] == format(paused_root.context.trace_id, "032x")
    (link,) = resumed.links
    assert link.context.trace_id == paused_root.context.trace_id
    assert link.context.span_id == paused_root.context.span_id
    assert a[sc.OUTCOME] == "ok"


def _assert_review_paused_then_resumed(spans: CapturedSpans, interrupt_id: str, verdict: str) -> Any:
    """The review graph's two turns: paused at ``review`` with the draft, resumed with ``verdict``; the resumed root."""
    paused, resumed = _two_traces(spans)
    payload = {"question": "Publish this draft?", "draft": "A short post about otters."}
    _assert_interrupted_turn(spans, paused, "review", interrupt_id, payload)
    _assert_resume(resumed, paused, [interrupt_id], verdict)
    return resumed


def test_interrupt_then_resume_reads_as_one_conversation() -> None:
    graph = _review_graph()
    config = {"configurable": {"thread_id": "review-1"}}
    with capture(integrations=["langgraph"]) as spans:
        first = graph.invoke({"topic": "otters"}, config)
        (pending,) = first["__interrupt__"]
        second = graph.invoke(Command(resume="approve"), config)
    assert second["published"] is True

    resumed = _assert_review_paused_then_resumed(spans, pending.id, "approve")
    assert attrs(resumed)[sc.OI_INPUT_VALUE] == "approve"
    assert {attrs(s)[sc.SESSION_ID] for s in spans.finished()} == {"review-1"}
    resumed_nodes = [s.name for s in spans.children(resumed)]
    assert resumed_nodes == ["review", "publish"]
    assert len(PENDING) == 0


async def test_interrupt_and_resume_async() -> None:
    graph = _review_graph()
    config = {"configurable": {"thread_id": "review-async"}}
    with capture(integrations=["langgraph"]) as spans:
        first = await graph.ainvoke({"topic": "otters"}, config)
        (pending,) = first["__interrupt__"]
        chunks = [c async for c in graph.astream(Command(resume="reject"), config)]
    assert chunks[-1] == {"publish": {"published": False}}
    _assert_review_paused_then_resumed(spans, pending.id, "reject")


def test_a_stream_that_pauses_ends_interrupted() -> None:
    graph = _review_graph()
    config = {"configurable": {"thread_id": "review-stream"}}
    with capture(integrations=["langgraph"]) as spans:
        updates = list(graph.stream({"topic": "otters"}, config))
    assert "__interrupt__" in updates[-1]
    (root,) = spans.roots()
    assert attrs(root)[sc.OUTCOME] == "interrupted"


def test_several_interrupts_in_one_step_and_a_resume_map() -> None:
    class Items(TypedDict):
        results: Annotated[list, operator.add]

    def approve(state: dict[str, Any]) -> dict[str, Any]:
        item = state["item"]
        answer = interrupt(f"approve {item}?")
        return {"results": [f"{item}={answer}"]}

    builder = StateGraph(Items)
    builder.add_node("split", lambda s: {"results": []})
    builder.add_node("approve", approve)
    builder.add_edge(START, "split")
    builder.add_conditional_edges("split", lambda s: [Send("approve", {"item": i}) for i in ("a", "b")], ["approve"])
    builder.add_edge("approve", END)
    graph = builder.compile(checkpointer=InMemorySaver(), name="batch_approval")
    config = {"configurable": {"thread_id": "parallel-1"}}

    with capture(integrations=["langgraph"]) as spans:
        first = graph.invoke({"results": []}, config)
        pending = {i.value: i.id for i in first["__interrupt__"]}
        assert set(pending) == {"approve a?", "approve b?"}
        answers = {pending["approve a?"]: "yes", pending["approve b?"]: "no"}
        final = graph.invoke(Command(resume=answers), config)
    assert sorted(final["results"]) == ["a=yes", "b=no"]

    paused, resumed = _two_traces(spans)
    a = attrs(paused)
    assert a[sc.OUTCOME] == "interrupted"
    assert set(a[sc.INTERRUPT_IDS]) == set(pending.values())
    assert sorted(json.loads(a[sc.INTERRUPT_VALUES])) == ["approve a?", "approve b?"]
    branches = [s for s in spans.children(paused) if s.name == "approve"]
    assert len(branches) == 2
    assert {tuple(attrs(s)[sc.INTERRUPT_IDS]) for s in branches} == {(pending["approve a?"],), (pending["approve b?"],)}
    assert all(attrs(s)[sc.OUTCOME] == "interrupted" for s in branches)
    r = attrs(resumed)
    assert set(r[sc.RESUME_INTERRUPT_IDS]) == set(pending.values())
    assert json.loads(r[sc.RESUME_VALUE]) == answers
    assert resumed.links[0].context.span_id == paused.context.span_id


def test_an_interrupt_inside_a_subgraph() -> None:
    class Nums(TypedDict):
        x: Annotated[list, operator.add]

    def ask(state: Nums) -> dict[str, Any]:
        return {"x": [f"answer:{interrupt('confirm refund?')}"]}

    sub = StateGraph(Nums)
    sub.add_node("ask", ask)
    sub.add_edge(START, "ask")
    builder = StateGraph(Nums)
    builder.add_node("prepare", lambda s: {"x": ["prepared"]})
    builder.add_node("refunds", sub.compile(name="refund_flow"))
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "refunds")
    builder.add_edge("refunds", END)
    graph = builder.compile(checkpointer=InMemorySaver(), name="support")
    config = {"configurable": {"thread_id": "sub-interrupt"}}

    with capture(integrations=["langgraph"]) as spans:
        (pending,) = graph.invoke({"x": []}, config)["__interrupt__"]
        final = graph.invoke(Command(resume="yes"), config)
    assert final["x"][-1] == "answer:yes"

    paused, resumed = _two_traces(spans)
    _assert_interrupted_turn(spans, paused, "ask", pending.id, "confirm refund?")
    # The enclosing subgraph and its node end interrupted too, without repeating the payload.
    for name in ("refund_flow", "refunds"):
        (span,) = [s for s in spans.by_name(name) if s.context.trace_id == paused.context.trace_id]
        assert attrs(span)[sc.OUTCOME] == "interrupted"
        assert sc.INTERRUPT_VALUES not in attrs(span)
    ask_span = next(s for s in spans.by_name("ask") if s.context.trace_id == paused.context.trace_id)
    assert [p.name for p in (parent_of(spans, ask_span), parent_of(spans, parent_of(spans, ask_span)))] == [
        "refund_flow",
        "refunds",
    ]
    _assert_resume(resumed, paused, [pending.id], "yes")


@pytest.mark.parametrize("where", ["interrupt_before", "interrupt_after"])
def test_breakpoints_pause_and_none_input_resumes(where: str) -> None:
    class Steps(TypedDict):
        done: Annotated[list, operator.add]

    steps = [("plan", lambda s: {"done": ["plan"]}), ("execute", lambda s: {"done": ["execute"]})]
    node = "execute" if where == "interrupt_before" else "plan"
    graph = linear_graph(Steps, steps, checkpointer=InMemorySaver(), name="runbook", **{where: [node]})
    config = {"configurable": {"thread_id": f"bp-{where}"}}

    with capture(integrations=["langgraph"]) as spans:
        graph.invoke({"done": []}, config)
        final = graph.invoke(None, config)
    assert final["done"] == ["plan", "execute"]

    paused, resumed = _two_traces(spans)
    a = attrs(paused)
    assert a[sc.OUTCOME] == "interrupted"
    assert list(a[sc.INTERRUPT_IDS]) == []
    assert json.loads(a[sc.INTERRUPT_VALUES]) == [{"breakpoint": where, "nodes": [node]}]
    assert all(s.status.status_code is StatusCode.UNSET for s in spans.finished())
    r = attrs(resumed)
    assert r[sc.RESUME] is True
    assert r[sc.RESUME_CHECKPOINT_ID] == a[sc.GRAPH_CHECKPOINT_ID]
    assert resumed.links[0].context.trace_id == paused.context.trace_id
    assert sc.OI_INPUT_VALUE not in r  # None input


def test_a_resume_of_a_pause_from_another_process_still_carries_the_checkpoint() -> None:
    graph = _review_graph()
    config = {"configurable": {"thread_id": "other-process"}}
    graph.invoke({"topic": "otters"}, config)  # paused while threadline was not watching
    (pending,) = graph.get_state(config).interrupts
    checkpoint_id = graph.get_state(config).config["configurable"]["checkpoint_id"]

    with capture(integrations=["langgraph"]) as spans:
        graph.invoke(Command(resume={pending.id: "approve"}), config)
        (resumed,) = spans.roots()
        a = attrs(resumed)
        assert a[sc.RESUME] is True
        assert list(a[sc.RESUME_INTERRUPT_IDS]) == [pending.id]  # named by the resume map
        assert a[sc.RESUME_CHECKPOINT_ID] == checkpoint_id  # from LangGraph's on_resume event
        assert resumed.links == ()
        assert sc.RESUME_TRACE_ID not in a

    graph.invoke({"topic": "bees"}, config)
    paused_at = graph.get_state(config).config["configurable"]["checkpoint_id"]
    with capture(integrations=["langgraph"]) as spans:
        graph.invoke(None, config)  # a None-input resume: known to be one only from LangGraph's event
        (resumed,) = spans.roots()
        assert attrs(resumed)[sc.RESUME] is True
        assert attrs(resumed)[sc.RESUME_CHECKPOINT_ID] == paused_at


def test_the_sqlite_checkpointer_works_the_same(tmp_path: Any) -> None:
    with sqlite3.connect(tmp_path / "checkpoints.db", check_same_thread=False) as conn:
        graph = _review_graph(SqliteSaver(conn))
        config = {"configurable": {"thread_id": "sqlite-1"}}
        with capture(integrations=["langgraph"]) as spans:
            (pending,) = graph.invoke({"topic": "otters"}, config)["__interrupt__"]
            graph.invoke(Command(resume="approve"), config)
    _assert_review_paused_then_resumed(spans, pending.id, "approve")


def test_a_new_message_instead_of_an_answer_is_not_a_resume() -> None:
    graph = _review_graph()
    config = {"configurable": {"thread_id": "abandon-1"}}
    with capture(integrations=["langgraph"]) as spans:
        graph.invoke({"topic": "otters"}, config)
        graph.invoke(Command(update={"topic": "bees"}), config)  # an update: the pause stays pending
        assert len(PENDING) == 1
        graph.invoke({"topic": "cats"}, config)  # a fresh input
    roots = spans.roots()
    assert len(roots) == 3
    assert [sc.RESUME in attrs(r) for r in roots] == [False, False, False]
    assert [attrs(r)[sc.OUTCOME] for r in roots] == ["interrupted", "interrupted", "interrupted"]


def test_a_failed_resume_keeps_the_pause_for_the_next_attempt() -> None:
    attempts = {"n": 0}

    def review(state: Review) -> dict[str, Any]:
        verdict = interrupt("ok?")
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise RuntimeError("flaky publish API")
        return {"verdict": verdict}

    builder = StateGraph(Review)
    builder.add_node("review", review)
    builder.add_edge(START, "review")
    graph = builder.compile(checkpointer=InMemorySaver(), name="flaky")
    config = {"configurable": {"thread_id": "flaky-1"}}
    with capture(integrations=["langgraph"]) as spans:
        (pending,) = graph.invoke({"topic": "x"}, config)["__interrupt__"]
        with pytest.raises(RuntimeError):
            graph.invoke(Command(resume="yes"), config)
        graph.invoke(Command(resume="yes"), config)
    paused, failed, retried = spans.roots()
    assert failed.status.status_code is StatusCode.ERROR
    for resumed in (failed, retried):
        assert list(attrs(resumed)[sc.RESUME_INTERRUPT_IDS]) == [pending.id]
        assert resumed.links[0].context.span_id == paused.context.span_id
