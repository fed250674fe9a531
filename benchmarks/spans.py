"""Realistic finished spans for the export benchmark, made by threadline's own emitter.

A template of 512 spans is built from records shaped like a LangGraph turn
(graph root with a thread id, three nodes, one chat model call with messages,
usage and cost), so the attributes are exactly what the integrations produce.
:func:`fresh_batch` clones the template with new trace and span ids, so every
exported batch is new rows, never a replace of old ones.
"""

from __future__ import annotations

import random
from typing import Any

from benchmarks.apps import MODEL


def template(size: int = 512) -> list[Any]:
    """``size`` finished ``ReadableSpan`` objects, 5 per simulated turn."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from threadline import _runtime
    from threadline.records import ModelCall, Run, SpanKind
    from threadline.usage import Usage

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    emitter = _runtime.build_emitter(provider.get_tracer("threadline"), _runtime.Settings())
    turn = 0
    while len(exporter.get_finished_spans()) < size:
        question = f"Question {turn}: what is the answer to everything, briefly?"
        root = emitter.start(
            Run(
                "LangGraph",
                integration="langgraph",
                run_id=f"00000000-0000-4000-8000-{turn:012d}",
                run_kind=SpanKind.GRAPH,
                inputs={"question": question},
                session_hints={"thread_id": f"thread-{turn % 16}"},
            ),
            use_current=False,
        )
        state: dict[str, Any] = {"question": question}
        for step, node in enumerate(("prepare", "model", "finish"), start=1):
            handle = emitter.start(
                Run(
                    node,
                    integration="langgraph",
                    run_kind=SpanKind.NODE,
                    node=node,
                    step=step,
                    inputs=dict(state),
                    triggers=[f"branch:to:{node}"],
                ),
                parent=root,
            )
            if node == "model":
                messages = [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": question},
                ]
                call = ModelCall(
                    f"chat {MODEL}",
                    integration="langchain",
                    provider="openai",
                    request_model=MODEL,
                    inputs=messages,
                )
                llm = emitter.start(call, parent=handle)
                call.outputs = [{"role": "assistant", "content": "The answer is 42."}]
                call.response_model = MODEL
                call.finish_reasons = ["stop"]
                call.usage = Usage(input_tokens=42, output_tokens=12)
                emitter.end(llm)
                state["answer"] = "The answer is 42."
            handle.record.outputs = dict(state)
            emitter.end(handle)
        root.record.outputs = dict(state)
        emitter.end(root)
        turn += 1
    spans = list(exporter.get_finished_spans())[:size]
    provider.shutdown()
    return spans


def fresh_batch(spans: list[Any], rng: random.Random) -> list[Any]:
    """A copy of ``spans`` with new trace ids (one per original trace) and new span ids, links kept consistent."""
    from opentelemetry.trace import SpanContext, TraceFlags

    from threadline.exporters.dialects import replace_span

    trace_ids: dict[int, int] = {}
    span_ids: dict[int, int] = {}

    def new_trace(old: int) -> int:
        return trace_ids.setdefault(old, rng.getrandbits(128) or 1)

    def new_span(old: int) -> int:
        return span_ids.setdefault(old, rng.getrandbits(64) or 1)

    out = []
    for s in spans:
        ctx = s.context
        new_ctx = SpanContext(new_trace(ctx.trace_id), new_span(ctx.span_id), False, TraceFlags(1))
        parent = None
        if s.parent is not None:
            parent = SpanContext(new_trace(s.parent.trace_id), new_span(s.parent.span_id), False, TraceFlags(1))
        out.append(replace_span(s, context=new_ctx, parent=parent))
    return out
