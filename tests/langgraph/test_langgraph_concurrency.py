"""Concurrent graphs on different threads (OS threads and asyncio tasks) never mix sessions, spans or
pending interrupts."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, interrupt

from scenarios.chat_models import MODEL, ScriptedChatModel, usage
from scenarios.langgraph_apps import linear_graph
from tests.kit import attrs, parent_of
from threadline import semconv as sc
from threadline.testing import CapturedSpans, capture


class Ticket(TypedDict, total=False):
    customer: str
    reply: str
    approved: Any


def _graph() -> Any:
    llm = ScriptedChatModel(script=["Refund approved."], reply_usage=usage(20, 3))

    def triage(state: Ticket) -> dict[str, Any]:
        return {"approved": interrupt({"refund_for": state["customer"]})}

    def answer(state: Ticket) -> dict[str, Any]:
        return {"reply": f"{llm.invoke(state['customer']).content} ({state['approved']})"}

    return linear_graph(Ticket, [triage, answer], checkpointer=InMemorySaver(), name="tickets")


def _check(spans: CapturedSpans, threads: list[str]) -> None:
    traces = spans.traces()
    assert len(traces) == 2 * len(threads)
    by_session: dict[str, list[Any]] = {}
    for members in traces.values():
        sessions = {attrs(s)[sc.SESSION_ID] for s in members}
        assert len(sessions) == 1, sessions
        (root,) = [s for s in members if s.parent is None]
        by_session.setdefault(sessions.pop(), []).append(root)
        for span in members:
            if span.parent is not None:
                assert parent_of(spans, span) is not None and parent_of(spans, span).context.trace_id == (
                    root.context.trace_id
                )
    assert sorted(by_session) == sorted(threads)
    for thread, roots in by_session.items():
        paused, resumed = sorted(roots, key=lambda s: s.start_time)
        assert attrs(paused)[sc.OUTCOME] == "interrupted"
        assert '"refund_for": "' + thread + '"' in attrs(paused)[sc.INTERRUPT_VALUES]
        assert attrs(resumed)[sc.RESUME] is True
        assert resumed.links[0].context.span_id == paused.context.span_id, thread
        assert attrs(resumed)[sc.RESUME_VALUE] == f"ok-{thread}"
        members = traces[resumed.context.trace_id]
        assert sorted(s.name for s in members) == ["answer", f"chat {MODEL}", "tickets", "triage"]


def _turns(graph: Any, thread: str) -> str:
    config = {"configurable": {"thread_id": thread}}
    graph.invoke({"customer": thread}, config)
    return graph.invoke(Command(resume=f"ok-{thread}"), config)["reply"]


def test_os_threads_never_mix_sessions_or_pauses() -> None:
    graph = _graph()
    threads = [f"customer-{i}" for i in range(12)]
    with capture(integrations=["langgraph"]) as spans:
        with ThreadPoolExecutor(max_workers=6) as pool:
            replies = list(pool.map(lambda t: _turns(graph, t), threads))
    assert replies == [f"Refund approved. (ok-{t})" for t in threads]
    _check(spans, threads)


async def test_asyncio_tasks_never_mix_sessions_or_pauses() -> None:
    graph = _graph()
    threads = [f"customer-{i}" for i in range(12)]

    async def turns(thread: str) -> str:
        config = {"configurable": {"thread_id": thread}}
        await graph.ainvoke({"customer": thread}, config)
        return (await graph.ainvoke(Command(resume=f"ok-{thread}"), config))["reply"]

    with capture(integrations=["langgraph"]) as spans:
        replies = await asyncio.gather(*(turns(t) for t in threads))
    assert replies == [f"Refund approved. (ok-{t})" for t in threads]
    _check(spans, threads)


def test_batch_runs_each_thread_in_its_own_trace() -> None:
    graph = _graph()
    threads = [f"batch-{i}" for i in range(4)]
    configs = [{"configurable": {"thread_id": t}} for t in threads]
    with capture(integrations=["langgraph"]) as spans:
        graph.batch([{"customer": t} for t in threads], configs)
        graph.batch([Command(resume=f"ok-{t}") for t in threads], configs)
    _check(spans, threads)


async def test_abatch_runs_each_thread_in_its_own_trace() -> None:
    graph = _graph()
    threads = [f"abatch-{i}" for i in range(4)]
    configs = [{"configurable": {"thread_id": t}} for t in threads]
    with capture(integrations=["langgraph"]) as spans:
        await graph.abatch([{"customer": t} for t in threads], configs)
        await graph.abatch([Command(resume=f"ok-{t}") for t in threads], configs)
    _check(spans, threads)
