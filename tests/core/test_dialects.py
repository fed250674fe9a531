"""Dialects, project, environment and W3C baggage sessions (the wire end to end: tests/e2e/test_otlp_dialects.py)."""

from __future__ import annotations

import json

import pytest
from openinference.semconv import trace as oi_trace
from openinference.semconv.resource import ResourceAttributes
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import threadline
from threadline import semconv as sc
from threadline.dialects import translate
from threadline.integration import current_emitter
from threadline.records import ModelCall, Run, SpanKind
from threadline.testing import capture


def _oi_values() -> set[str]:
    values: set[str] = {ResourceAttributes.PROJECT_NAME}
    for name in dir(oi_trace):
        holder = getattr(oi_trace, name)
        if isinstance(holder, type):
            for attr in vars(holder).values():
                value = getattr(attr, "value", attr)
                if isinstance(value, str):
                    values.add(value)
    return values


def test_every_openinference_name_is_the_packages_own() -> None:
    known = _oi_values()
    ours = {name: getattr(sc, name) for name in dir(sc) if name.startswith(("OI_", "MIME_"))}
    assert ours and {name: value for name, value in ours.items() if value not in known} == {}
    assert sc.TAG_VALUES in known and sc.OI_PROJECT_NAME == ResourceAttributes.PROJECT_NAME


def _model_call(**options: object) -> dict[str, object]:
    with capture(integrations=[], **options) as spans:
        em = current_emitter()
        handle = em.start(
            ModelCall(name="chat", provider="openai", request_model="m", inputs=[{"role": "user", "content": "hi"}])
        )
        handle.record.outputs = [{"role": "assistant", "content": "hello"}]
        em.end(handle)
    (span,) = spans.finished()
    return dict(span.attributes or {})


def test_no_dialect_leaves_one_vocabulary() -> None:
    attrs = _model_call(dialects=())
    assert not set(attrs) & (set(sc.MIRRORS) | sc.DIALECT_ONLY)
    assert not [k for k in attrs if k.startswith(sc.DIALECT_ONLY_PREFIXES)]
    assert attrs[sc.OI_INPUT_VALUE] == '[{"role": "user", "content": "hi"}]'


def test_one_dialect_adds_only_its_own() -> None:
    attrs = _model_call(dialects=["openinference"])
    assert attrs[sc.OI_SPAN_KIND] == sc.OI_KIND_LLM
    assert attrs[f"{sc.OI_LLM_INPUT_MESSAGES}.0.{sc.OI_MESSAGE_CONTENT}"] == "hi"
    assert sc.GEN_AI_INPUT_MESSAGES not in attrs and sc.LANGFUSE_OBSERVATION_TYPE not in attrs


def test_an_unknown_dialect_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="phoenix"):
        threadline.instrument(integrations=[], dialects=["phoenix"])


def test_a_value_the_emitter_or_user_set_is_never_overwritten() -> None:
    attrs = {sc.SPAN_KIND: "model", sc.GEN_AI_PROVIDER_NAME: "openai", sc.OI_LLM_PROVIDER: "mine"}
    assert sc.OI_LLM_PROVIDER not in translate(attrs)


def _exported(**options: object) -> list:
    memory = InMemorySpanExporter()
    threadline.instrument(exporter=memory, integrations=[], **options)
    em = current_emitter()
    em.end(em.start(Run(name="turn", run_kind=SpanKind.OBSERVE)))
    assert threadline.flush(10)
    return list(memory.get_finished_spans())


def test_project_names_the_service_and_the_phoenix_project() -> None:
    (span,) = _exported(project="support-bot")
    assert span.resource.attributes[sc.SERVICE_NAME] == "support-bot"
    assert span.resource.attributes[ResourceAttributes.PROJECT_NAME] == "support-bot"


def test_environment_explicit_then_variable_then_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_ENVIRONMENT", "from-env")
    (span,) = _exported(environment="prod")
    assert span.attributes[sc.DEPLOYMENT_ENVIRONMENT] == "prod" == span.attributes[sc.LANGFUSE_ENVIRONMENT]
    threadline.uninstrument()
    (span,) = _exported()
    assert span.attributes[sc.DEPLOYMENT_ENVIRONMENT] == "from-env"
    threadline.uninstrument()
    monkeypatch.delenv("THREADLINE_ENVIRONMENT")
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({sc.DEPLOYMENT_ENVIRONMENT: "from-resource"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    threadline.instrument(tracer_provider=provider, integrations=[])
    em = current_emitter()
    em.end(em.start(Run(name="turn")))
    assert memory.get_finished_spans()[0].attributes[sc.DEPLOYMENT_ENVIRONMENT] == "from-resource"


def test_no_environment_no_attribute() -> None:
    (span,) = _exported()
    assert sc.DEPLOYMENT_ENVIRONMENT not in span.attributes


def _headers_inside_session(**options: object) -> dict[str, str]:
    threadline.instrument(integrations=[], **options)
    carrier: dict[str, str] = {}
    with threadline.session("chat-7", user_id="user-1"):
        W3CBaggagePropagator().inject(carrier)
    return carrier


def test_sessions_travel_in_baggage_only_when_asked() -> None:
    assert _headers_inside_session() == {}
    headers = _headers_inside_session(propagate_session=True)
    assert headers["baggage"] in ("session.id=chat-7,user.id=user-1", "user.id=user-1,session.id=chat-7")
    assert baggage.get_baggage(sc.BAGGAGE_SESSION_ID) is None  # the scope took it away again


def _trace_with_incoming_baggage(**options: object) -> dict[str, object]:
    with capture(integrations=[], **options) as spans:
        ctx = W3CBaggagePropagator().extract({"baggage": "session.id=chat-7,user.id=user-1"})
        token = otel_context.attach(ctx)
        try:
            em = current_emitter()
            em.end(em.start(Run(name="downstream")))
        finally:
            otel_context.detach(token)
    return dict(spans.one("downstream").attributes or {})


def test_a_service_picks_the_session_up_from_incoming_baggage() -> None:
    attrs = _trace_with_incoming_baggage(propagate_session=True)
    assert (attrs[sc.SESSION_ID], attrs[sc.USER_ID], attrs[sc.SESSION_SOURCE]) == ("chat-7", "user-1", "baggage")
    assert sc.SESSION_ID not in _trace_with_incoming_baggage()


def test_an_interrupted_turn_outputs_what_it_asks_and_its_resume_inputs_the_answer() -> None:
    from threadline.records import GraphPause, GraphResume, Interrupt

    with capture(integrations=[]) as spans:
        em = current_emitter()
        root = em.start(Run(name="graph", run_kind=SpanKind.GRAPH, inputs="refund please"))
        node = em.start(Run(name="ask", run_kind=SpanKind.NODE), parent=root)
        em.pause(node, GraphPause(interrupts=[Interrupt(id="i-1", value={"question": "Approve?"})]))
        em.end(node)
        root.record.outputs = {"messages": ["..."], "__interrupt__": ["..."]}
        em.end(root)
        em.end(em.start(Run(name="graph", run_kind=SpanKind.GRAPH, resume=GraphResume(["i-1"], {"ok": True}))))
    paused, resumed = spans.roots()
    assert json.loads(paused.attributes[sc.OI_OUTPUT_VALUE]) == {"question": "Approve?"}
    assert paused.attributes[sc.INTERRUPTED_OUTPUT] is True
    assert paused.attributes[sc.LANGFUSE_TRACE_OUTPUT] == paused.attributes[sc.OI_OUTPUT_VALUE]
    assert json.loads(resumed.attributes[sc.OI_INPUT_VALUE]) == {"ok": True}


def test_your_own_spans_on_threadlines_provider_carry_the_environment_too() -> None:
    from threadline import _runtime

    memory = InMemorySpanExporter()
    threadline.instrument(exporter=memory, integrations=[], environment="prod")
    _runtime.state.provider.get_tracer("my-app").start_span("my-span").end()
    assert threadline.flush(10)
    (span,) = memory.get_finished_spans()
    assert span.attributes[sc.DEPLOYMENT_ENVIRONMENT] == "prod"


def test_instrument_again_with_other_dialects_keeps_the_exporter_and_applies_them() -> None:
    memory = InMemorySpanExporter()
    threadline.instrument(exporter=memory, integrations=[])
    threadline.instrument(exporter=memory, integrations=[], dialects=())
    em = current_emitter()
    em.end(em.start(Run(name="turn")))
    assert threadline.flush(10)
    (span,) = memory.get_finished_spans()  # the exporter still works: it was not shut down
    assert sc.OI_SPAN_KIND not in span.attributes
