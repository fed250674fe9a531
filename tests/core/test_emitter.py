"""The emitter: records in, spans out (names, kinds, attributes, content, usage, outcomes)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind as OtelKind
from opentelemetry.trace import StatusCode

from tests.kit import CONTENT_ATTRIBUTES
from threadline import semconv as sc
from threadline.content import TRUNCATION_MARKER
from threadline.emitter import Emitter, SpanHandle, register_context_provider, unregister_context_provider
from threadline.integration import current_emitter
from threadline.records import (
    GraphPause,
    GraphResume,
    Interrupt,
    ModelCall,
    Outcome,
    Retrieval,
    Run,
    SpanKind,
    ToolCall,
)
from threadline.testing import CapturedSpans, capture
from threadline.usage import Usage

MS = 1_000_000


@pytest.fixture
def em(spans: CapturedSpans) -> Emitter:
    return current_emitter()


def _attrs(spans: CapturedSpans, name: str) -> dict[str, Any]:
    return dict(spans.one(name).attributes)


# --- names, kinds and attributes per record type -----------------------------------------------


def test_chat_model_call(em: Emitter, spans: CapturedSpans) -> None:
    handle = em.start(
        ModelCall(
            name="ChatOpenAI",
            integration="langchain",
            run_id="run-1",
            provider="openai",
            request_model="gpt-4o-mini",
            temperature=0.2,
            max_tokens=256,
            streamed=True,
            server_address="api.openai.com",
            inputs=[{"role": "user", "content": "hi"}],
            tags=["t1"],
        )
    )
    rec = handle.record
    rec.response_model = "gpt-4o-mini-2024-07-18"
    rec.response_id = "chatcmpl-1"
    rec.finish_reasons = ["stop"]
    rec.outputs = [{"role": "assistant", "content": "hello"}]
    rec.usage = Usage(input_tokens=10, output_tokens=5)
    rec.stream_end_reason = "completed"
    rec.attributes[sc.HTTP_RESPONSE_STATUS_CODE] = 200
    em.end(handle)

    span = spans.one("chat gpt-4o-mini")
    assert span.kind is OtelKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    a = dict(span.attributes)
    assert a[sc.SPAN_KIND] == "model" and a[sc.OI_SPAN_KIND] == sc.OI_KIND_LLM
    assert a[sc.INTEGRATION] == "langchain" and a[sc.RUN_ID] == "run-1"
    assert a[sc.GEN_AI_OPERATION_NAME] == sc.OP_CHAT
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai" and a[sc.OI_LLM_PROVIDER] == "openai"
    assert a[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18" == a[sc.OI_LLM_MODEL_NAME]
    assert a[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-1"
    assert list(a[sc.GEN_AI_RESPONSE_FINISH_REASONS]) == ["stop"]
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.2 and a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 256
    assert a[sc.GEN_AI_REQUEST_STREAM] is True and a[sc.SERVER_ADDRESS] == "api.openai.com"
    assert a[sc.END_REASON] == "completed"
    assert list(a[sc.TAG_VALUES]) == ["t1"]
    assert a[sc.OI_INPUT_VALUE] == '[{"role": "user", "content": "hi"}]'
    assert a[sc.OI_OUTPUT_VALUE] == '[{"role": "assistant", "content": "hello"}]'
    assert a[sc.GEN_AI_INPUT_MESSAGES] == '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'
    assert json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hello"}], "finish_reason": "stop"}
    ]
    assert a[sc.OI_INPUT_MIME_TYPE] == a[sc.OI_OUTPUT_MIME_TYPE] == sc.MIME_JSON
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 10 and a[sc.OI_LLM_TOKEN_COUNT_PROMPT] == 10
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5 and a[sc.OI_LLM_TOKEN_COUNT_COMPLETION] == 5
    assert a[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 15 and a[sc.OI_LLM_TOKEN_COUNT_TOTAL] == 15
    assert a[sc.OUTCOME] == sc.OUTCOME_OK
    assert a[sc.HTTP_RESPONSE_STATUS_CODE] == 200


def test_completion_and_embedding_calls(em: Emitter, spans: CapturedSpans) -> None:
    em.end(em.start(ModelCall(name="OpenAI", operation=sc.OP_TEXT_COMPLETION, request_model="gpt-3.5-turbo-instruct")))
    handle = em.start(
        ModelCall(name="embed", operation=sc.OP_EMBEDDINGS, provider="openai", request_model="text-embedding-3-small")
    )
    handle.record.usage = Usage(input_tokens=8, total_tokens=8)
    em.end(handle)
    em.end(em.start(ModelCall(name="NoModelLLM")))

    completion = _attrs(spans, "text_completion gpt-3.5-turbo-instruct")
    assert completion[sc.SPAN_KIND] == "model" and completion[sc.GEN_AI_OPERATION_NAME] == sc.OP_TEXT_COMPLETION
    embedding = spans.one("embeddings text-embedding-3-small")
    assert embedding.kind is OtelKind.CLIENT
    assert embedding.attributes[sc.SPAN_KIND] == "embedding"
    assert embedding.attributes[sc.OI_SPAN_KIND] == sc.OI_KIND_EMBEDDING
    assert embedding.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 8
    assert embedding.attributes[sc.GEN_AI_USAGE_COST] == pytest.approx(8 * 0.02 / 1e6)
    assert spans.one("NoModelLLM").attributes[sc.GEN_AI_OPERATION_NAME] == sc.OP_CHAT


def test_tool_call(em: Emitter, spans: CapturedSpans) -> None:
    handle = em.start(ToolCall(name="search", call_id="call_1", inputs={"query": "weather"}))
    handle.record.outputs = "sunny"
    em.end(handle)
    span = spans.one("execute_tool search")
    assert span.kind is OtelKind.INTERNAL
    a = dict(span.attributes)
    assert a[sc.SPAN_KIND] == "tool" and a[sc.OI_SPAN_KIND] == sc.OI_KIND_TOOL
    assert a[sc.GEN_AI_OPERATION_NAME] == sc.OP_EXECUTE_TOOL
    assert a[sc.GEN_AI_TOOL_NAME] == "search" == a[sc.OI_TOOL_NAME]
    assert a[sc.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert a[sc.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"query": "weather"}' == a[sc.OI_INPUT_VALUE]
    assert a[sc.GEN_AI_TOOL_CALL_RESULT] == "sunny" == a[sc.OI_OUTPUT_VALUE]


def test_retrieval(em: Emitter, spans: CapturedSpans) -> None:
    handle = em.start(Retrieval(name="VectorIndexRetriever", data_source="docs-index", inputs="what is x?"))
    handle.record.outputs = [{"id": "n1", "score": 0.9}]
    em.end(handle)
    a = _attrs(spans, "VectorIndexRetriever")
    assert a[sc.SPAN_KIND] == "retrieval" and a[sc.OI_SPAN_KIND] == sc.OI_KIND_RETRIEVER
    assert a[sc.GEN_AI_OPERATION_NAME] == sc.OP_RETRIEVAL
    assert a[sc.GEN_AI_DATA_SOURCE_ID] == "docs-index"
    assert a[sc.OI_INPUT_VALUE] == "what is x?"


@pytest.mark.parametrize(
    ("run_kind", "oi_kind"),
    [
        (SpanKind.CHAIN, sc.OI_KIND_CHAIN),
        (SpanKind.AGENT, sc.OI_KIND_AGENT),
        (SpanKind.GRAPH, sc.OI_KIND_CHAIN),
        (SpanKind.NODE, sc.OI_KIND_CHAIN),
        (SpanKind.OBSERVE, sc.OI_KIND_CHAIN),
    ],
)
def test_runs(run_kind: SpanKind, oi_kind: str, em: Emitter, spans: CapturedSpans) -> None:
    em.end(em.start(Run(name="r", run_kind=run_kind)))
    span = spans.one("r")
    assert span.kind is OtelKind.INTERNAL
    assert span.attributes[sc.SPAN_KIND] == run_kind.value
    assert span.attributes[sc.OI_SPAN_KIND] == oi_kind
    if run_kind is SpanKind.AGENT:
        assert span.attributes[sc.GEN_AI_OPERATION_NAME] == sc.OP_INVOKE_AGENT
        assert span.attributes[sc.GEN_AI_AGENT_NAME] == "r"
    else:
        assert sc.GEN_AI_OPERATION_NAME not in span.attributes


def test_graph_node_run(em: Emitter, spans: CapturedSpans) -> None:
    graph = em.start(Run(name="LangGraph", run_kind=SpanKind.GRAPH, turn_id="turn-1"))
    node = em.start(
        Run(
            name="agent",
            run_kind=SpanKind.NODE,
            node="agent",
            step=2,
            checkpoint_ns="agent:abc",
            checkpoint_id="cp-1",
            triggers=["branch:to:agent"],
        ),
        parent=graph,
    )
    em.end(node)
    em.end(graph)
    a = _attrs(spans, "agent")
    assert a[sc.GRAPH_NODE] == "agent" and a[sc.GRAPH_STEP] == 2
    assert a[sc.GRAPH_CHECKPOINT_NS] == "agent:abc" and a[sc.GRAPH_CHECKPOINT_ID] == "cp-1"
    assert list(a[sc.GRAPH_TRIGGERS]) == ["branch:to:agent"]
    assert _attrs(spans, "LangGraph")[sc.TURN_ID] == "turn-1"
    assert spans.children(spans.one("LangGraph")) == [spans.one("agent")]


def test_graph_pause_ends_node_and_trace_interrupted(em: Emitter, spans: CapturedSpans) -> None:
    graph = em.start(Run(name="LangGraph", run_kind=SpanKind.GRAPH))
    node = em.start(Run(name="review", run_kind=SpanKind.NODE, node="review"), parent=graph)
    em.pause(
        node,
        GraphPause(interrupts=[Interrupt(id="int-1", value={"question": "approve?"})], checkpoint_id="cp-9"),
    )
    em.end(node)
    em.end(graph)  # ends "ok" from the integration's point of view
    review, root = spans.one("review"), spans.one("LangGraph")
    for span in (review, root):
        assert span.attributes[sc.OUTCOME] == sc.OUTCOME_INTERRUPTED
        assert span.status.status_code is StatusCode.UNSET
    assert list(review.attributes[sc.INTERRUPT_IDS]) == ["int-1"]
    assert review.attributes[sc.INTERRUPT_VALUES] == '[{"question": "approve?"}]'
    assert review.attributes[sc.GRAPH_CHECKPOINT_ID] == "cp-9"
    assert [e.name for e in review.events] == [sc.EVENT_INTERRUPT]


def test_graph_resume_links_the_interrupted_trace(em: Emitter, spans: CapturedSpans) -> None:
    first = em.start(Run(name="turn-1", run_kind=SpanKind.GRAPH))
    em.end(first, outcome=Outcome.INTERRUPTED)
    resume = GraphResume(interrupt_ids=["int-1"], value="yes", checkpoint_id="cp-9", linked_trace=first.span_context)
    em.end(em.start(Run(name="turn-2", run_kind=SpanKind.GRAPH, resume=resume)))
    span = spans.one("turn-2")
    a = dict(span.attributes)
    assert a[sc.RESUME] is True
    assert list(a[sc.RESUME_INTERRUPT_IDS]) == ["int-1"]
    assert a[sc.RESUME_VALUE] == "yes" and a[sc.RESUME_CHECKPOINT_ID] == "cp-9"
    assert a[sc.RESUME_TRACE_ID] == format(first.span_context.trace_id, "032x")
    assert span.context.trace_id != first.span_context.trace_id
    assert [link.context for link in span.links] == [first.span_context]


# --- content ---------------------------------------------------------------------------------


def _content_workload(em: Emitter) -> None:
    root = em.start(Run(name="graph", run_kind=SpanKind.GRAPH, inputs={"q": "secret"}))
    call = em.start(ModelCall(name="chat", request_model="m", inputs="secret prompt"), parent=root)
    call.record.outputs = "secret answer"
    em.end(call)
    tool = em.start(ToolCall(name="lookup", inputs={"id": "secret"}), parent=root)
    tool.record.outputs = {"result": "secret"}
    em.end(tool)
    node = em.start(Run(name="ask", run_kind=SpanKind.NODE), parent=root)
    em.pause(node, GraphPause(interrupts=[Interrupt(id="i-1", value="secret question")]))
    em.end(node)
    root.record.outputs = "secret out"
    em.end(root)
    resume = GraphResume(interrupt_ids=["i-1"], value="secret reply")
    em.end(em.start(Run(name="resumed", run_kind=SpanKind.GRAPH, resume=resume)))


def test_content_capture_off_records_structure_only() -> None:
    with capture(integrations=[], capture_content=False) as spans:
        _content_workload(current_emitter())
    assert len(spans.finished()) == 5
    for span in spans.finished():
        for key in CONTENT_ATTRIBUTES:
            assert key not in span.attributes, (span.name, key)
        assert "secret" not in repr(dict(span.attributes))
    assert list(spans.one("ask").attributes[sc.INTERRUPT_IDS]) == ["i-1"]


def test_content_capture_on_records_every_value(spans: CapturedSpans, em: Emitter) -> None:
    _content_workload(em)
    found = {key for span in spans.finished() for key in CONTENT_ATTRIBUTES if key in span.attributes}
    assert found == set(CONTENT_ATTRIBUTES)


def test_the_redaction_hook_sees_every_captured_value() -> None:
    seen: list[Any] = []

    def redact(value: Any) -> Any:
        seen.append(value)
        return "[redacted]"

    with capture(integrations=[], redact=redact) as spans:
        _content_workload(current_emitter())
    assert seen == [
        {"q": "secret"},
        "secret prompt",
        "secret answer",
        {"id": "secret"},
        {"result": "secret"},
        ["secret question"],
        "secret reply",  # (the interrupted root's output is what the pause asks, already seen)
    ]
    for span in spans.finished():
        assert "secret" not in repr(dict(span.attributes)), span.name
        for key in CONTENT_ATTRIBUTES:
            if key in span.attributes and key not in sc.DIALECT_ONLY:  # derived ones wrap it (parts of a message)
                assert span.attributes[key] == "[redacted]"


def test_a_redaction_hook_may_drop_values_and_a_failing_one_leaks_nothing() -> None:
    with capture(integrations=[], redact=lambda v: None if v == "drop me" else v) as spans:
        em = current_emitter()
        em.end(em.start(Run(name="dropped", inputs="drop me")))
        em.end(em.start(Run(name="kept", inputs="keep me")))
    assert sc.OI_INPUT_VALUE not in spans.one("dropped").attributes
    assert spans.one("kept").attributes[sc.OI_INPUT_VALUE] == "keep me"

    def broken(value: Any) -> Any:
        raise RuntimeError("bad hook")

    with capture(integrations=[], redact=broken) as spans:
        em = current_emitter()
        em.end(em.start(Run(name="r", inputs="secret")))
    assert spans.one("r").attributes[sc.OI_INPUT_VALUE] == "<redaction failed>"


def test_the_size_cap_truncates_with_a_marker_and_keeps_the_span() -> None:
    with capture(integrations=[], max_content_chars=100) as spans:
        em = current_emitter()
        handle = em.start(ModelCall(name="chat", request_model="m", inputs="x" * 5000))
        handle.record.outputs = "short"
        handle.record.usage = Usage(input_tokens=1, output_tokens=1)
        em.end(handle)
    a = _attrs(spans, "chat m")
    assert len(a[sc.OI_INPUT_VALUE]) == 100
    assert a[sc.OI_INPUT_VALUE].endswith(TRUNCATION_MARKER)
    assert a[sc.OI_INPUT_VALUE].startswith("x" * (100 - len(TRUNCATION_MARKER)))
    assert a[sc.TRUNCATED] is True
    assert a[sc.OI_OUTPUT_VALUE] == "short"
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1


def test_unrenderable_and_cyclic_values_never_break_a_span(em: Emitter, spans: CapturedSpans) -> None:
    class Bad:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    em.end(em.start(Run(name="r", inputs={"bad": Bad(), "cycle": cyclic, "raw": b"\x00\x01"})))
    text = _attrs(spans, "r")[sc.OI_INPUT_VALUE]
    assert "<unrenderable Bad>" in text and "<cycle>" in text and "<2 bytes>" in text


# --- usage counted once -------------------------------------------------------------------------


def test_nested_model_calls_count_usage_once(em: Emitter, spans: CapturedSpans) -> None:
    usage = Usage(input_tokens=100, output_tokens=20, cache_read_tokens=64)
    chain = em.start(Run(name="chain"))
    outer = em.start(
        ModelCall(name="ChatOpenAI", integration="langchain", provider="openai", request_model="gpt-4o-mini"),
        parent=chain,
    )
    inner = em.start(
        ModelCall(name="chat", integration="openai", provider="openai", request_model="gpt-4o-mini"), parent=outer
    )
    inner.record.usage = usage
    em.end(inner)
    outer.record.usage = usage
    em.end(outer)
    em.end(chain)

    spans_by_integration = {s.attributes[sc.INTEGRATION]: s for s in spans.of_kind("model")}
    lc, oa = spans_by_integration["langchain"], spans_by_integration["openai"]
    assert oa.parent.span_id == lc.context.span_id
    assert oa.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 100
    assert oa.attributes[sc.GEN_AI_USAGE_COST] > 0
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in lc.attributes
    assert sc.GEN_AI_USAGE_COST not in lc.attributes
    assert lc.attributes[sc.USAGE_COUNTED_IN] == format(oa.context.span_id, "016x")
    total = sum(s.attributes.get(sc.GEN_AI_USAGE_INPUT_TOKENS, 0) for s in spans.finished())
    assert total == 100


def test_counted_once_through_three_levels(em: Emitter, spans: CapturedSpans) -> None:
    usage = Usage(input_tokens=7, output_tokens=3)
    outer = em.start(ModelCall(name="outer", request_model="gpt-4o-mini"))
    middle = em.start(ModelCall(name="middle", request_model="gpt-4o-mini"), parent=outer)
    tool = em.start(ToolCall(name="t"), parent=middle)
    inner = em.start(ModelCall(name="inner", request_model="gpt-4o-mini", integration="inner"), parent=tool)
    for handle in (inner, tool, middle, outer):
        if isinstance(handle.record, ModelCall):
            handle.record.usage = usage
        em.end(handle)
    carriers = [s for s in spans.finished() if sc.GEN_AI_USAGE_INPUT_TOKENS in s.attributes]
    assert [s.attributes[sc.INTEGRATION] for s in carriers] == ["inner"]
    inner_id = format(carriers[0].context.span_id, "016x")
    deferred = [s for s in spans.of_kind("model") if sc.USAGE_COUNTED_IN in s.attributes]
    assert len(deferred) == 2
    assert {s.attributes[sc.USAGE_COUNTED_IN] for s in deferred} == {inner_id}


def test_an_outer_model_call_keeps_usage_the_inner_one_did_not_report(em: Emitter, spans: CapturedSpans) -> None:
    outer = em.start(ModelCall(name="outer", request_model="gpt-4o-mini", integration="outer"))
    inner = em.start(ModelCall(name="inner", request_model="gpt-4o-mini", integration="inner"), parent=outer)
    em.end(inner)  # e.g. a stream without usage
    outer.record.usage = Usage(input_tokens=5, output_tokens=5)
    em.end(outer)
    carriers = [s for s in spans.finished() if sc.GEN_AI_USAGE_INPUT_TOKENS in s.attributes]
    assert [s.attributes[sc.INTEGRATION] for s in carriers] == ["outer"]
    assert all(sc.USAGE_COUNTED_IN not in s.attributes for s in spans.finished())


def test_sibling_model_calls_each_count(em: Emitter, spans: CapturedSpans) -> None:
    chain = em.start(Run(name="chain"))
    for _ in range(2):
        h = em.start(ModelCall(name="chat", request_model="gpt-4o-mini"), parent=chain)
        h.record.usage = Usage(input_tokens=10, output_tokens=1)
        em.end(h)
    em.end(chain)
    assert sum(s.attributes.get(sc.GEN_AI_USAGE_INPUT_TOKENS, 0) for s in spans.finished()) == 20


# --- outcomes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", [Outcome.INTERRUPTED, Outcome.CANCELLED])
def test_interrupted_and_cancelled_are_not_errors(outcome: Outcome, em: Emitter, spans: CapturedSpans) -> None:
    class InterruptSignalError(Exception):
        pass

    em.end(
        em.start(Run(name="r")),
        outcome=outcome,
        error=InterruptSignalError() if outcome is Outcome.INTERRUPTED else None,
    )
    span = spans.one("r")
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[sc.OUTCOME] == outcome.value
    assert sc.ERROR_TYPE not in span.attributes
    assert not span.events


def test_a_real_error_is_an_error_with_its_type(em: Emitter, spans: CapturedSpans) -> None:
    root = em.start(Run(name="root"))
    child = em.start(ToolCall(name="t"), parent=root)
    em.end(child, error=KeyError("missing"))
    em.end(root, error=asyncio.TimeoutError())
    span = spans.one("execute_tool t")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "KeyError: 'missing'"
    assert span.attributes[sc.ERROR_TYPE] == "KeyError"
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert span.events[0].attributes["exception.type"] == "KeyError"
    assert spans.one("root").attributes[sc.ERROR_TYPE] == "TimeoutError"


def test_end_is_idempotent(em: Emitter, spans: CapturedSpans) -> None:
    handle = em.start(Run(name="r"))
    em.end(handle)
    em.end(handle, error=ValueError("late"))
    assert len(spans.finished()) == 1
    assert spans.one("r").status.status_code is StatusCode.UNSET


# --- time to first token and parents ----------------------------------------------------------------


def test_time_to_first_token(em: Emitter, spans: CapturedSpans) -> None:
    t0 = 1_700_000_000_000_000_000
    handle = em.start(ModelCall(name="chat", request_model="m", streamed=True), start_ns=t0)
    em.first_token(handle, at_ns=t0 + 250 * MS)
    em.first_token(handle, at_ns=t0 + 900 * MS)  # only the first one counts
    em.end(handle, end_ns=t0 + 1200 * MS)
    span = spans.one("chat m")
    assert span.attributes[sc.TIME_TO_FIRST_TOKEN] == pytest.approx(250.0)
    assert span.end_time - span.start_time == 1200 * MS
    em.end(em.start(ModelCall(name="chat", request_model="n")))
    assert sc.TIME_TO_FIRST_TOKEN not in spans.one("chat n").attributes


def test_attached_context_parents_nested_spans(em: Emitter, spans: CapturedSpans) -> None:
    outer = em.start(Run(name="outer"))
    token = otel_context.attach(outer.context)
    try:
        em.end(em.start(Run(name="inner")))
    finally:
        otel_context.detach(token)
    em.end(em.start(Run(name="after")))
    em.end(outer)
    assert spans.one("inner").parent.span_id == spans.one("outer").context.span_id
    assert spans.one("after").parent is None


def test_a_context_provider_supplies_the_enclosing_run(em: Emitter, spans: CapturedSpans) -> None:
    run = em.start(Run(name="framework-run"))
    current: list[SpanHandle | None] = [run]

    def provider() -> SpanHandle | None:
        return current[0]

    register_context_provider(provider)
    try:
        em.end(em.start(Run(name="nested")))
        current[0] = None
        em.end(em.start(Run(name="alone")))
    finally:
        unregister_context_provider(provider)
    em.end(run)
    assert spans.one("nested").parent.span_id == spans.one("framework-run").context.span_id
    assert spans.one("alone").parent is None


def test_an_ended_parent_is_not_used(em: Emitter, spans: CapturedSpans) -> None:
    parent = em.start(Run(name="parent"))
    em.end(parent)
    em.end(em.start(Run(name="late"), parent=parent))
    assert spans.one("late").parent is None


def test_spans_nest_under_the_applications_own_otel_span(em: Emitter, spans: CapturedSpans) -> None:
    tracer = spans.provider.get_tracer("web")
    with tracer.start_as_current_span("POST /chat"):
        em.end(em.start(Run(name="r")))
    assert spans.one("r").parent.span_id == spans.one("POST /chat").context.span_id
