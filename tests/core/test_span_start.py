"""What a span carries when it starts (samplers, span processors) and when it ends (exporters).

The emitter writes a span's attributes in one call when it ends; a sampler
that decides on attributes still sees the span kind and the session id.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Sampler, SamplingResult

import threadline
from threadline import _runtime
from threadline import semconv as sc
from threadline.integration import current_emitter
from threadline.records import ModelCall, Run, SpanKind
from threadline.usage import Usage


class _RecordingSampler(Sampler):
    """Samples everything and keeps what each span started with."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def should_sample(self, parent_context: Any, trace_id: int, name: str, *args: Any, **kwargs: Any) -> SamplingResult:
        attributes = kwargs.get("attributes", args[1] if len(args) > 1 else None)
        self.seen.append((name, dict(attributes or {})))
        return ALWAYS_ON.should_sample(parent_context, trace_id, name, *args, **kwargs)

    def get_description(self) -> str:
        return "recording"


class _StartAttributes(SpanProcessor):
    """A user's span processor: what each span carried when it started."""

    def __init__(self) -> None:
        self.at_start: dict[str, dict[str, Any]] = {}

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.at_start[span.name] = dict(span.attributes or {})


@pytest.fixture
def pipeline(request: pytest.FixtureRequest) -> Iterator[tuple[InMemorySpanExporter, TracerProvider, Any]]:
    sampler = _RecordingSampler() if getattr(request, "param", None) == "sampler" else None
    provider = TracerProvider(sampler=sampler) if sampler is not None else TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    threadline.instrument(tracer_provider=provider, integrations=[], environment="staging", dialects=())
    try:
        yield exporter, provider, sampler
    finally:
        threadline.uninstrument()
        _runtime.shutdown(timeout=5)


def _turn() -> None:
    em = current_emitter()
    root = em.start(Run(name="graph", run_kind=SpanKind.GRAPH, inputs={"q": "hi"}, session_hints={"thread_id": "t-1"}))
    question = [{"role": "user", "content": "hi"}]
    call = ModelCall(name="chat", provider="openai", request_model="gpt-4o-mini", inputs=question)
    model = em.start(call, parent=root)
    model.record.usage = Usage(input_tokens=10, output_tokens=5)
    model.record.outputs = [{"role": "assistant", "content": "hello"}]
    em.end(model)
    root.record.outputs = {"answer": "hello"}
    em.end(root)


@pytest.mark.parametrize("pipeline", ["sampler"], indirect=True)
def test_a_sampler_that_reads_attributes_sees_the_span_kind_and_session(pipeline: Any) -> None:
    exporter, _, sampler = pipeline
    _turn()
    seen = dict(sampler.seen)
    assert seen["graph"] == {sc.SPAN_KIND: "graph", sc.SESSION_ID: "t-1"}
    assert seen["chat gpt-4o-mini"] == {sc.SPAN_KIND: "model", sc.SESSION_ID: "t-1"}
    # The finished spans carry everything, the session stamp whole.
    for span in exporter.get_finished_spans():
        attrs = span.attributes
        assert attrs[sc.SESSION_ID] == "t-1"
        assert attrs[sc.SESSION_SOURCE] == "thread_id"
        assert attrs[sc.DEPLOYMENT_ENVIRONMENT] == "staging"
        assert attrs[sc.OUTCOME] == "ok"


def test_finished_spans_carry_every_attribute_once_written(pipeline: Any) -> None:
    exporter, provider, _ = pipeline
    user_processor = _StartAttributes()
    provider.add_span_processor(user_processor)
    _turn()
    spans = {s.name: dict(s.attributes) for s in exporter.get_finished_spans()}
    root, model = spans["graph"], spans["chat gpt-4o-mini"]
    assert root[sc.SPAN_KIND] == "graph"
    assert root[sc.TRACE_ROOT] is True
    assert root[sc.OI_INPUT_VALUE] == '{"q": "hi"}'
    assert root[sc.OI_OUTPUT_VALUE] == '{"answer": "hello"}'
    assert model[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert model[sc.GEN_AI_USAGE_INPUT_TOKENS] == 10
    assert model[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 15
    assert sc.TRACE_ROOT not in model
    for attrs in (root, model):
        assert attrs[sc.SESSION_ID] == "t-1"
        assert attrs[sc.DEPLOYMENT_ENVIRONMENT] == "staging"
    # threadline's processor left the emitter's spans alone at their start (they get it all at the end).
    assert user_processor.at_start["graph"] == {}


def test_a_users_own_span_still_gets_session_and_environment(pipeline: Any) -> None:
    exporter, provider, _ = pipeline
    with threadline.session("s-9", user_id="u-1"):
        provider.get_tracer("my-app").start_span("mine").end()
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "mine"]
    assert span.attributes[sc.SESSION_ID] == "s-9"
    assert span.attributes[sc.USER_ID] == "u-1"
    assert span.attributes[sc.DEPLOYMENT_ENVIRONMENT] == "staging"


def _runtime_imports(module: str) -> set[str]:
    """The threadline modules ``module`` imports when it runs (type-checking imports left out)."""
    tree = ast.parse(Path(_runtime.__file__).with_name(f"{module}.py").read_text())
    skipped = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("threadline"):
            found.add(node.module)
            found.update(f"threadline.{a.name}" for a in node.names if node.module == "threadline")
    return found


def test_process_state_is_read_through_a_module_that_imports_nothing_above_it() -> None:
    """Session scopes and the span processor read the state without importing the pipeline (no cycle)."""
    assert _runtime_imports("_state") <= {"threadline.content", "threadline.dialects"}
    above = {"threadline._runtime", "threadline.emitter", "threadline.integration"}
    for module in ("sessions", "processors", "handles", "attributes"):
        assert not _runtime_imports(module) & above, module
