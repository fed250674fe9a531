"""How the LangGraph integration is switched on: alone, with the LangChain one, off again, or its handler
used without ``instrument()``; and spans of other integrations made inside nodes."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langchain_core.callbacks import CallbackManager
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.pregel import Pregel
from langgraph.types import Command, interrupt
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import threadline
from scenarios.chat_models import MODEL, ScriptedChatModel, usage
from scenarios.langgraph_apps import linear_graph
from tests.kit import attrs, parent_of
from threadline import semconv as sc
from threadline.integration import current_emitter
from threadline.records import ModelCall
from threadline.testing import capture
from threadline.usage import Usage
from threadline_langchain import ThreadlineCallbackHandler
from threadline_langgraph import ThreadlineGraphCallbackHandler


class Nums(TypedDict):
    x: Annotated[list, operator.add]


def _graph(node: Any = None) -> Any:
    def ask(state: Nums) -> dict[str, Any]:
        return {"x": [interrupt("go?")]}

    work = node or (lambda s: {"x": ["work"]})
    return linear_graph(Nums, [("work", work), ask], checkpointer=InMemorySaver(), name="g")


def _run(graph: Any, thread: str, config: dict[str, Any] | None = None) -> None:
    cfg = {"configurable": {"thread_id": thread}, **(config or {})}
    graph.invoke({"x": []}, cfg)
    graph.invoke(Command(resume="yes"), cfg)


def _check_pause_and_resume(spans: list[Any], thread: str) -> None:
    roots = sorted((s for s in spans if s.parent is None), key=lambda s: s.start_time)
    assert [s.name for s in roots] == ["g", "g"]
    assert [attrs(s)[sc.SPAN_KIND] for s in roots] == ["graph", "graph"]
    assert attrs(roots[0])[sc.OUTCOME] == "interrupted"
    assert attrs(roots[1])[sc.RESUME] is True
    assert roots[1].links[0].context.span_id == roots[0].context.span_id
    assert {attrs(s)[sc.SESSION_ID] for s in spans} == {thread}
    nodes = sorted((s.name, attrs(s)[sc.SPAN_KIND]) for s in spans if s.parent is not None)
    assert nodes == [("ask", "node"), ("ask", "node"), ("work", "node")]


def test_the_langgraph_integration_alone_traces_graphs_and_the_langchain_runs_in_them() -> None:
    llm = ScriptedChatModel(script=["hi"], reply_usage=usage(4, 1))
    graph = _graph(lambda s: {"x": [llm.invoke("hello").content]})
    with capture(integrations=["langgraph"]) as spans:
        _run(graph, "alone-1")
    model = spans.one(f"chat {MODEL}")
    assert parent_of(spans, model).name == "work"
    assert attrs(model)[sc.INTEGRATION] == "langgraph"
    _check_pause_and_resume([s for s in spans.finished() if s is not model], "alone-1")


def test_both_integrations_trace_each_run_once_with_the_graph_handler() -> None:
    with capture(integrations=["langchain", "langgraph"]) as spans:
        manager = CallbackManager.configure()
        assert [type(h) for h in manager.handlers if isinstance(h, ThreadlineCallbackHandler)] == [
            ThreadlineGraphCallbackHandler
        ]
        _run(_graph(), "both-1")
    _check_pause_and_resume(spans.finished(), "both-1")


def test_uninstrumenting_langgraph_leaves_langchain_tracing_in_place() -> None:
    original_stream = Pregel.__dict__["stream"]
    with capture(integrations=["langchain", "langgraph"]) as spans:
        assert Pregel.__dict__["stream"].__wrapped__ is original_stream
        threadline.uninstrument(["langgraph"])
        assert Pregel.__dict__["stream"] is original_stream
        handlers = CallbackManager.configure().handlers
        assert [type(h) for h in handlers if isinstance(h, ThreadlineCallbackHandler)] == [ThreadlineCallbackHandler]
        _graph().invoke({"x": []}, {"configurable": {"thread_id": "lc-only"}})
    # Plain LangChain tracing: chain spans, but an interrupt is still never an error.
    assert {attrs(s)[sc.SPAN_KIND] for s in spans.finished()} == {"chain"}
    assert attrs(spans.one("ask"))[sc.OUTCOME] == "interrupted"
    assert attrs(spans.one("g"))[sc.OUTCOME] == "interrupted"


def test_the_graph_handler_works_alone_without_instrument() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    threadline.instrument(tracer_provider=provider, integrations=[])
    _run(_graph(), "handler-1", {"callbacks": [ThreadlineGraphCallbackHandler()]})
    _check_pause_and_resume(list(exporter.get_finished_spans()), "handler-1")


def _sdk_call() -> None:
    emitter = current_emitter()
    handle = emitter.start(ModelCall(name="sdk", integration="sdk", provider="openai", request_model="gpt-4o-mini"))
    handle.record.usage = Usage(input_tokens=10, output_tokens=2)
    emitter.end(handle)


async def test_a_provider_call_made_directly_in_a_node_nests_under_the_node() -> None:
    def work(state: Nums) -> dict[str, Any]:
        _sdk_call()
        return {"x": ["work"]}

    async def awork(state: Nums) -> dict[str, Any]:
        _sdk_call()
        return {"x": ["awork"]}

    for node in (work, awork):
        builder = StateGraph(Nums)
        builder.add_node("work", node)
        builder.add_edge(START, "work")
        graph = builder.compile(name="g")
        with capture(integrations=["langgraph"]) as spans:
            await graph.ainvoke({"x": []}, {"configurable": {"thread_id": "sdk-1"}})
        sdk = spans.one("chat gpt-4o-mini")
        assert parent_of(spans, sdk).name == "work"
        assert attrs(sdk)[sc.SESSION_ID] == "sdk-1"
        assert len(spans.traces()) == 1
