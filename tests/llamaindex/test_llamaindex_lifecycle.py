"""Instrument / uninstrument, propagation across contexts, shutdown, content capture, parents."""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import subprocess
import sys
import textwrap

import pytest
from li_kit import OPENAI_MODEL, ScriptedLLM
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step

import threadline
from tests.kit import attrs as _attrs
from threadline import semconv as sc
from threadline.handles import _context_providers
from threadline.testing import capture

MODEL_SPAN = f"chat {OPENAI_MODEL}"
USER = [ChatMessage(role="user", content="hi")]


def test_uninstrument_restores_the_dispatcher_exactly():
    dispatcher = get_dispatcher()
    span_list, event_list = dispatcher.span_handlers, dispatcher.event_handlers
    before = (list(span_list), list(event_list))
    providers_before = list(_context_providers)

    with capture(integrations=["llamaindex"]) as spans:
        threadline.instrument(integrations=["llamaindex"], tracer_provider=spans.provider)  # twice: still one
        names = [type(h).__name__ for h in dispatcher.span_handlers]
        assert names.count("ThreadlineSpanHandler") == 1
        assert [type(h).__name__ for h in dispatcher.event_handlers].count("ThreadlineEventHandler") == 1
        assert len(_context_providers) == len(providers_before) + 1
        ScriptedLLM().chat(USER)
        assert len(spans.finished()) == 1

    assert dispatcher.span_handlers is span_list and dispatcher.event_handlers is event_list
    assert [id(h) for h in span_list] == [id(h) for h in before[0]]
    assert [id(h) for h in event_list] == [id(h) for h in before[1]]
    assert _context_providers == providers_before
    ScriptedLLM().chat(USER)
    assert len(spans.finished()) == 1  # nothing after uninstrument


def test_installs_on_first_import_when_llamaindex_is_not_imported_yet(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        import threadline
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exporter = InMemorySpanExporter()
        threadline.instrument(exporter=exporter, integrations=["llamaindex"])
        assert "llama_index_instrumentation" not in sys.modules
        from llama_index.core.instrumentation import get_dispatcher
        from llama_index.core.llms import MockLLM
        names = [type(h).__name__ for h in get_dispatcher().span_handlers]
        assert names.count("ThreadlineSpanHandler") == 1, names
        MockLLM(max_tokens=2).complete("hi")
        threadline.flush()
        print(sorted(s.name for s in exporter.get_finished_spans()))
        """
    )
    env = {**os.environ, "THREADLINE_DB": str(tmp_path / "t.db")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['MockLLM.complete']"


def test_spans_nest_under_an_enclosing_observe_span(spans):
    @threadline.observe(name="handle-request")
    def handle() -> str:
        return ScriptedLLM().chat(USER).message.content

    with threadline.session("web-1"):
        handle()
    outer = spans.one("handle-request")
    model = spans.one(MODEL_SPAN)
    assert model.parent.span_id == outer.context.span_id
    assert _attrs(model)[sc.SESSION_ID] == "web-1"


def test_propagation_context_round_trip(spans):
    dispatcher = get_dispatcher("tests.llamaindex.propagation")

    @dispatcher.span
    def producer() -> dict:
        return get_dispatcher().capture_propagation_context()

    with threadline.session("prop-1", user_id="u-1"):
        carrier = producer()
    assert set(carrier["threadline"]) >= {"traceparent", "session_id", "user_id"}
    assert json.loads(json.dumps(carrier)) == carrier  # it crosses processes as JSON
    producer_span = spans.one("test_propagation_context_round_trip.<locals>.producer")

    def consumer() -> None:  # another process, as far as context goes: nothing inherited
        get_dispatcher().restore_propagation_context(carrier)
        ScriptedLLM().chat(USER)

    contextvars.Context().run(consumer)
    model = spans.one(MODEL_SPAN)
    assert model.context.trace_id == producer_span.context.trace_id
    assert model.parent.span_id == producer_span.context.span_id
    assert _attrs(model)[sc.SESSION_ID] == "prop-1"
    assert _attrs(model)[sc.USER_ID] == "u-1"


def test_workflow_run_keeps_a_restored_trace(spans):
    class _Flow(Workflow):
        @step
        async def only(self, ev: StartEvent) -> StopEvent:
            return StopEvent(result=(await ScriptedLLM().achat(USER)).message.content)

    @threadline.observe(name="enqueue")
    def enqueue() -> dict:
        return get_dispatcher().capture_propagation_context()

    carrier = enqueue()
    enqueue_span = spans.one("enqueue")

    async def worker() -> str:
        get_dispatcher().restore_propagation_context(carrier)
        return await _Flow().run()

    assert contextvars.Context().run(asyncio.run, worker()) == "The answer is 42."
    flow = spans.one("_Flow")
    assert flow.context.trace_id == enqueue_span.context.trace_id
    assert flow.parent.span_id == enqueue_span.context.span_id
    assert spans.one(MODEL_SPAN).context.trace_id == enqueue_span.context.trace_id


def test_no_propagation_context_outside_spans(spans):
    assert "threadline" not in get_dispatcher().capture_propagation_context()


def test_dispatcher_shutdown_ends_open_streams(spans):
    stream = ScriptedLLM().stream_chat(USER)
    get_dispatcher().shutdown()
    model = spans.one(MODEL_SPAN)
    assert _attrs(model)[sc.OUTCOME] == "cancelled"
    assert _attrs(model)[sc.END_REASON] == "abandoned"
    list(stream)  # the user's stream still works


def test_uninstrument_ends_open_streams():
    with capture(integrations=["llamaindex"]) as spans:
        stream = ScriptedLLM().stream_chat(USER)
    assert _attrs(spans.one(MODEL_SPAN))[sc.OUTCOME] == "cancelled"
    assert [c.delta for c in stream][-1] == ""


def test_capture_content_off_keeps_tokens():
    with capture(integrations=["llamaindex"], capture_content=False) as spans:
        ScriptedLLM().chat(USER)
        list(ScriptedLLM().stream_chat(USER))
    for model in spans.by_name(MODEL_SPAN):
        attrs = _attrs(model)
        assert sc.OI_INPUT_VALUE not in attrs and sc.OI_OUTPUT_VALUE not in attrs
        assert attrs[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 150


def test_many_pending_streams_are_bounded(spans, monkeypatch):
    from threadline_llamaindex import _tracker

    monkeypatch.setattr(_tracker, "MAX_PENDING", 3)
    streams = [ScriptedLLM().stream_chat(USER) for _ in range(5)]
    ended = spans.by_name(MODEL_SPAN)
    assert len(ended) == 2
    assert all(_attrs(s)[sc.END_REASON] == "abandoned" for s in ended)
    for stream in streams:
        list(stream)
    assert len(spans.by_name(MODEL_SPAN)) == 5


@pytest.mark.parametrize("n", [50])
def test_tracker_map_is_empty_after_runs(spans, n):
    from threadline import _runtime

    tracker = _runtime.state.integrations["llamaindex"].tracker
    for _ in range(n):
        ScriptedLLM().chat(USER)
        list(ScriptedLLM().stream_chat(USER))
    assert tracker.open_count() == 0


def test_a_failing_handler_never_breaks_the_application(spans, monkeypatch):
    from threadline import guard
    from threadline_llamaindex import _extract

    def boom(instance):
        raise RuntimeError("bug in threadline")

    monkeypatch.setenv("THREADLINE_RAISE_INTERNAL", "0")
    monkeypatch.setattr(_extract, "model_of", boom)
    before = guard.failure_count
    response = ScriptedLLM().chat(USER)
    assert response.message.content == "The answer is 42."
    assert list(ScriptedLLM().stream_chat(USER))[-1].message.content == "The answer is 42."
    assert guard.failure_count > before
    guard.failure_count = before  # expected here: keep the suite's internal-error check green


def test_propagated_session_keeps_its_source(spans):
    dispatcher = get_dispatcher("tests.llamaindex.propagation")

    @dispatcher.span
    def producer() -> dict:
        return get_dispatcher().capture_propagation_context()

    from llama_index.core.instrumentation.dispatcher import instrument_tags

    with instrument_tags({"thread_id": "t-77"}):
        carrier = producer()
    spans.clear()

    def consumer() -> None:
        get_dispatcher().restore_propagation_context({"threadline": carrier["threadline"]})  # no tags
        ScriptedLLM().chat(USER)

    contextvars.Context().run(consumer)
    model = _attrs(spans.one(MODEL_SPAN))
    assert model[sc.SESSION_ID] == "t-77"
    assert model[sc.SESSION_SOURCE] == "thread_id"
