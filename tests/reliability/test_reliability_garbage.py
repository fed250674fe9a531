"""Spans are freed by reference counting: nothing threadline builds is left to the garbage collector.

A reference cycle per span (a handle whose context points back at it, a trace
that points at its root, a run entry that is its own root) keeps every span,
its record and the captured inputs alive until a collection finds them. The
application then pays for many more collections, full ones included, while
an uninstrumented turn triggers none. These tests run real workloads with the
collector off and ``DEBUG_SAVEALL``, then look at what only a collection
could free.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rel_kit import LANGGRAPH_READY, FakeOpenAI, echo_chat_model, has_module, support_graph

import threadline

LLAMAINDEX_READY = has_module("threadline_llamaindex") and has_module("llama_index.core")


def _ours(obj: Any) -> bool:
    module = type(obj).__module__ or ""
    return module.startswith(("threadline", "opentelemetry"))


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    threadline.instrument(tracer_provider=provider)
    yield exporter


def _cyclic_garbage(workload: Callable[[], Any], exporter: InMemorySpanExporter) -> tuple[int, list[str]]:
    """Run ``workload`` with the collector off; the spans it made and the types only a collection frees."""
    workload()  # warm-up: first-call caches are not garbage
    exporter.clear()
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        workload()
        spans = len(exporter.get_finished_spans())
        exporter.clear()
        gc.collect()
        leftovers = sorted({f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage if _ours(o)})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()
    return spans, leftovers


@pytest.mark.skipif(not LANGGRAPH_READY, reason="threadline-langgraph is not installed")
def test_langgraph_turn_and_resume_leave_no_cycles(exporter: InMemorySpanExporter) -> None:
    graph = support_graph(echo_chat_model())
    runs = iter(range(100))

    def turn() -> None:
        config = {"configurable": {"thread_id": f"t-{next(runs)}"}}
        graph.invoke({"messages": [("user", "hi")]}, config)  # pauses at review
        from langgraph.types import Command

        assert graph.invoke(Command(resume="yes"), config)["approved"] == "yes"

    spans, leftovers = _cyclic_garbage(turn, exporter)
    assert spans == 6  # the paused turn: graph, agent, model, review; the resumed one: graph, review
    assert leftovers == []


def test_openai_calls_leave_no_cycles(exporter: InMemorySpanExporter) -> None:
    client, _ = FakeOpenAI().clients()

    def calls() -> None:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert [c for c in stream]

    spans, leftovers = _cyclic_garbage(calls, exporter)
    assert spans == 2
    assert leftovers == []


@pytest.mark.skipif(not LLAMAINDEX_READY, reason="threadline-llamaindex is not installed")
def test_llamaindex_query_leaves_no_cycles(exporter: InMemorySpanExporter) -> None:
    from llama_index.core.llms import MockLLM

    from scenarios.llamaindex_apps import query_engine

    engine = query_engine([f"fact number {i}" for i in range(4)], MockLLM(max_tokens=8))

    spans, leftovers = _cyclic_garbage(lambda: engine.query("which fact?"), exporter)
    assert spans >= 3  # query, retrieve, synthesize (and the model call)
    assert leftovers == []
