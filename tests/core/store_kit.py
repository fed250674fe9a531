"""Shared scenario for the store and CLI tests: real spans from threadline's emitter into a SQLite store.

``record_support_sessions(db)`` runs four turns of a support conversation
(``chat-1``: a streamed answer counted once under a framework wrapper, a turn
whose tool fails, a turn that pauses for a human with a tool error inside,
and the human's resume with a reasoning model), one turn of another session
(``chat-2``) and a trace with no session. It returns what a user would check,
computed independently of the store: from the finished OpenTelemetry spans
(kept in memory alongside) and from genai-prices.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import threadline
from threadline import semconv as sc
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.integration import current_emitter
from threadline.records import GraphPause, GraphResume, Interrupt, ModelCall, Run, SpanKind, ToolCall
from threadline.usage import Usage, usage_from_anthropic

SONNET = "claude-sonnet-4-5"
INTERRUPT_PAYLOAD = {"question": "Refund 40 EUR to order 1234?", "amount": 40}
RESUME_VALUE = "yes, refund it"
TTFT_TURN_1_MS = 120.0
TTFT_TURN_4_MS = 300.0
ANTHROPIC_USAGE = {
    "input_tokens": 100,
    "output_tokens": 300,
    "cache_read_input_tokens": 2000,
    "cache_creation_input_tokens": 500,
}


def price(model: str, provider: str, **tokens: int) -> float:
    """genai-prices' own total for one call."""
    return float(calc_price(PriceUsage(**tokens), model, provider_id=provider).total_price)


@dataclass
class Scenario:
    """What the scenario recorded, for the assertions."""

    db: Path
    spans: list[ReadableSpan]
    trace_ids: dict[str, str] = field(default_factory=dict)  # turn label -> trace id (hex)
    expected_cost: float = 0.0

    def spans_cost(self, label: str) -> float:
        """Sum of ``gen_ai.usage.cost`` over the spans of one recorded trace."""
        trace_id = int(self.trace_ids[label], 16)
        return sum(
            (s.attributes or {}).get(sc.GEN_AI_USAGE_COST, 0.0) for s in self.spans if s.context.trace_id == trace_id
        )

    def session_spans(self, session_id: str) -> list[ReadableSpan]:
        """Every finished span whose trace belongs to ``session_id``."""
        wanted = {s.context.trace_id for s in self.spans if (s.attributes or {}).get(sc.SESSION_ID) == session_id}
        return [s for s in self.spans if s.context.trace_id in wanted]


def conversation(
    session_id: str,
    turns: int,
    question: str = "turn {turn}: is paddle{turn} available?",
    answer: str = "yes, paddle{turn} is ready",
    history: list[dict[str, str]] | None = None,
) -> list[str]:
    """``turns`` turns of one scripted chat in ``session_id``; the trace ids, in order.

    Each turn is a graph run around a model call that sees the whole ``history`` so far (by default a
    system message; the turns are appended to it); ``question`` and ``answer`` are formatted with ``turn``.
    """
    emitter = current_emitter()
    if history is None:
        history = [{"role": "system", "content": "You are the kayak rental desk."}]
    traces = []
    with threadline.session(session_id, user_id="u"):
        for turn in range(turns):
            history.append({"role": "user", "content": question.format(turn=turn)})
            root = emitter.start(Run(name="graph", run_kind=SpanKind.GRAPH, inputs={"messages": list(history)}))
            call = emitter.start(
                ModelCall(name="chat", provider="openai", request_model="gpt-4o-mini", inputs=list(history)),
                parent=root,
            )
            reply = {"role": "assistant", "content": answer.format(turn=turn)}
            call.record.outputs = [reply]
            history.append(reply)
            emitter.end(call)
            emitter.end(root)
            traces.append(_hex(root))
    return traces


def _provider(db: Path) -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(SQLiteSpanExporter(db)))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def _hex(handle: Any) -> str:
    return format(handle.span_context.trace_id, "032x")


def record_support_sessions(db: Path) -> Scenario:
    """Run the scenario with threadline instrumented into ``db`` (and memory); see the module docstring."""
    provider, memory = _provider(db)
    threadline.instrument(tracer_provider=provider, integrations=[])
    emitter = current_emitter()
    ids: dict[str, str] = {}

    @threadline.observe(name="handle-turn")
    def answer(question: str) -> str:
        # A framework wrapper (LangChain's ChatOpenAI) around the SDK call: usage is on the inner span only.
        outer = emitter.start(
            ModelCall(name="ChatOpenAI", integration="langchain", provider="openai", request_model="gpt-4o-mini")
        )
        inner = emitter.start(
            ModelCall(name="chat", integration="openai", provider="openai", request_model="gpt-4o-mini", streamed=True),
            parent=outer,
        )
        emitter.first_token(inner, at_ns=inner.start_ns + int(TTFT_TURN_1_MS * 1e6))
        usage = Usage(input_tokens=1500, output_tokens=200, cache_read_tokens=1024, total_tokens=1700)
        inner.record.usage = usage
        inner.record.response_model = "gpt-4o-mini-2024-07-18"
        inner.record.outputs = "2 + 2 = 4"
        emitter.end(inner)
        outer.record.usage = usage  # LangChain reports the same usage again
        outer.record.outputs = "2 + 2 = 4"
        emitter.end(outer)
        ids["answer"] = _hex(inner)
        return "2 + 2 = 4"

    @threadline.observe(name="handle-turn")
    def look_up(question: str) -> str:
        call = emitter.start(ModelCall(name="chat", provider="anthropic", request_model=SONNET, inputs=question))
        call.record.usage = usage_from_anthropic(ANTHROPIC_USAGE)
        call.record.outputs = "Let me look that up."
        emitter.end(call)
        tool = emitter.start(ToolCall(name="order_lookup", inputs={"order": 1234}))
        emitter.end(tool, error=LookupError("order service unavailable"))
        ids["turn2"] = _hex(call)
        return "Sorry, I could not reach the order service."

    with threadline.session("chat-1", user_id="user-1", tags=["support"]):
        assert answer("What is 2 + 2?") == "2 + 2 = 4"
        ids["turn1"] = ids.pop("answer")
        look_up("Where is order 1234?")

        # A graph run that pauses for a human: a tool failed on the way, yet the trace is no error.
        graph = emitter.start(Run(name="refund-graph", run_kind=SpanKind.GRAPH, inputs="Refund order 1234"))
        flaky = emitter.start(ToolCall(name="fraud_check", inputs={"order": 1234}), parent=graph)
        emitter.end(flaky, error=TimeoutError("fraud service timed out"))
        node = emitter.start(Run(name="approve", run_kind=SpanKind.NODE, node="approve", step=2), parent=graph)
        emitter.pause(node, GraphPause(interrupts=[Interrupt(id="int-1", value=INTERRUPT_PAYLOAD)]))
        emitter.end(node)
        emitter.end(graph)
        ids["turn3"] = _hex(graph)

    # The human (another user) answers in the same session; a reasoning model finishes the job.
    with threadline.session("chat-1", user_id="agent-7"):
        resume = emitter.start(
            Run(
                name="refund-graph",
                run_kind=SpanKind.GRAPH,
                resume=GraphResume(interrupt_ids=["int-1"], value=RESUME_VALUE),
            )
        )
        call = emitter.start(
            ModelCall(name="chat", provider="openai", request_model="o3-mini", streamed=True), parent=resume
        )
        emitter.first_token(call, at_ns=call.start_ns + int(TTFT_TURN_4_MS * 1e6))
        call.record.usage = Usage(input_tokens=400, output_tokens=600, reasoning_tokens=512)
        emitter.end(call)
        resume.record.outputs = "Refunded 40 EUR."
        emitter.end(resume)
        ids["turn4"] = _hex(resume)

    with threadline.session("chat-2", user_id="user-3"):
        answer("And 3 + 3?")
        ids["chat2"] = ids.pop("answer")

    lone = emitter.start(Run(name="nightly-job", run_kind=SpanKind.OBSERVE))
    emitter.end(lone)
    ids["lone"] = _hex(lone)

    threadline.flush()
    cost = (
        price("gpt-4o-mini", "openai", input_tokens=1500, output_tokens=200, cache_read_tokens=1024)
        + price(
            SONNET, "anthropic", input_tokens=2600, output_tokens=300, cache_read_tokens=2000, cache_write_tokens=500
        )
        + price("o3-mini", "openai", input_tokens=400, output_tokens=600)
    )
    return Scenario(db=db, spans=list(memory.get_finished_spans()), trace_ids=ids, expected_cost=cost)


def expected_bounds(spans: list[ReadableSpan]) -> tuple[int, int]:
    """(first start, last end) over ``spans``, in Unix ns."""
    return min(s.start_time or 0 for s in spans), max(s.end_time or 0 for s in spans)


def median(values: list[float]) -> float:
    """The median, as the store defines it (mean of the two middle values for an even count)."""
    return float(statistics.median(values))


def synthetic_span(
    trace_id: int,
    span_id: int,
    *,
    parent_id: int | None = None,
    start_ns: int,
    name: str = "span",
    attributes: dict[str, Any] | None = None,
) -> ReadableSpan:
    """A finished span with chosen ids and times (for stores with traces in the past)."""
    from opentelemetry.trace import SpanContext, TraceFlags

    def context(sid: int) -> SpanContext:
        return SpanContext(trace_id, sid, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))

    return ReadableSpan(
        name=name,
        context=context(span_id),
        parent=context(parent_id) if parent_id is not None else None,
        attributes=attributes or {},
        start_time=start_ns,
        end_time=start_ns + 1_000_000,
    )


def same(old: Any, new: Any, where: str = "") -> list[str]:
    """Where ``new`` differs from ``old`` in the keys ``old`` has (floats to 1e-9 relative)."""
    if isinstance(old, dict):
        return [d for k in old for d in (same(old[k], new[k], f"{where}.{k}") if k in new else [f"{where}.{k} lost"])]
    if isinstance(old, list):
        if len(old) != len(new):
            return [f"{where}: {len(old)} items, now {len(new)}"]
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True)) for d in same(a, b, f"{where}[{i}]")]
    if isinstance(old, float):
        return [] if new == pytest.approx(old, rel=1e-9) else [f"{where}: {old} -> {new}"]
    return [] if old == new else [f"{where}: {old!r} -> {new!r}"]
