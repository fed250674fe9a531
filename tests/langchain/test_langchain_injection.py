"""Automatic injection into every callback manager, the handler used alone, dedupe and uninstrument."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import CallbackManager
from langchain_core.callbacks import manager as lc_manager
from langchain_core.runnables import RunnableLambda
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import threadline
from scenarios.chat_models import MODEL, ScriptedChatModel, usage
from tests.kit import attrs
from threadline import _runtime
from threadline import semconv as sc
from threadline.testing import capture
from threadline_langchain import ThreadlineCallbackHandler, open_runs


def _chain() -> Any:
    model = ScriptedChatModel(script=["pong"], reply_usage=usage(3, 1))
    return RunnableLambda(lambda text: text.lower(), name="normalise") | model


def test_instrument_adds_one_handler_to_every_callback_manager() -> None:
    original = lc_manager._configure
    with capture(integrations=["langchain"]) as spans:
        assert lc_manager._configure.__wrapped__ is original
        manager = CallbackManager.configure()
        assert sum(isinstance(h, ThreadlineCallbackHandler) for h in manager.handlers) == 1
        assert sum(isinstance(h, ThreadlineCallbackHandler) for h in manager.inheritable_handlers) == 1
        assert sum(isinstance(h, ThreadlineCallbackHandler) for h in manager.copy().handlers) == 1
        run = manager.on_chain_start(None, {})
        child = run.get_child()  # a run's child manager inherits it, once
        assert sum(isinstance(h, ThreadlineCallbackHandler) for h in child.handlers) == 1
        run.on_chain_end({})
        spans.clear()
        _chain().invoke("PING")
        assert sorted(s.name for s in spans.finished()) == ["RunnableSequence", f"chat {MODEL}", "normalise"]
    assert lc_manager._configure is original


def test_a_handler_the_user_passes_is_not_doubled() -> None:
    mine = ThreadlineCallbackHandler()
    with capture(integrations=["langchain"]) as spans:
        _chain().invoke("PING", config={"callbacks": [mine]})
        manager = CallbackManager.configure([mine])
        assert [h for h in manager.handlers if isinstance(h, ThreadlineCallbackHandler)] == [mine]

    names = [s.name for s in spans.finished()]
    assert sorted(names) == ["RunnableSequence", f"chat {MODEL}", "normalise"]


def test_a_local_handler_and_the_injected_one_trace_each_run_once() -> None:
    model = ScriptedChatModel(script=["pong"], reply_usage=usage(3, 1), callbacks=[ThreadlineCallbackHandler()])
    with capture(integrations=["langchain"]) as spans:
        model.invoke("ping")
    assert [s.name for s in spans.finished()] == [f"chat {MODEL}"]


def test_the_handler_works_alone_without_instrument() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # Only the emitter is configured (no LangChain patching): the handler is what the user passes.
    threadline.instrument(tracer_provider=provider, integrations=[])
    assert "__wrapped__" not in dir(lc_manager._configure)
    handler = ThreadlineCallbackHandler()
    _chain().invoke("PING", config={"callbacks": [handler], "metadata": {"session_id": "alone-1"}})

    spans = exporter.get_finished_spans()
    assert sorted(s.name for s in spans) == ["RunnableSequence", f"chat {MODEL}", "normalise"]
    assert {attrs(s)[sc.SESSION_ID] for s in spans} == {"alone-1"}
    assert handler.open_runs == 0


def test_the_handler_alone_falls_back_to_the_default_store(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    db = tmp_path / "alone.db"
    monkeypatch.setenv("THREADLINE_DB", str(db))
    _chain().invoke("PING", config={"callbacks": [ThreadlineCallbackHandler()]})
    assert threadline.flush()
    with sqlite3.connect(db) as conn:
        names = sorted(row[0] for row in conn.execute("SELECT name FROM spans"))
    assert names == ["RunnableSequence", f"chat {MODEL}", "normalise"]


def test_uninstrument_stops_tracing_and_instrument_again_resumes() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    threadline.instrument(tracer_provider=provider, integrations=["langchain"])
    threadline.instrument(tracer_provider=provider, integrations=["langchain"])  # twice = once
    _chain().invoke("PING")
    assert len(exporter.get_finished_spans()) == 3

    threadline.uninstrument()
    exporter.clear()
    _chain().invoke("PING")
    assert exporter.get_finished_spans() == ()
    assert not any(isinstance(h, ThreadlineCallbackHandler) for h in CallbackManager.configure().handlers)

    threadline.instrument(tracer_provider=provider, integrations=["langchain"])
    _chain().invoke("PING")
    assert len(exporter.get_finished_spans()) == 3
    threadline.uninstrument()
    _runtime.shutdown(timeout=5)
    assert open_runs() == 0


def test_a_telemetry_failure_never_reaches_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    from threadline.emitter import Emitter

    monkeypatch.setenv("THREADLINE_RAISE_INTERNAL", "0")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected")

    with capture(integrations=["langchain"]):
        monkeypatch.setattr(Emitter, "start", broken)
        assert _chain().invoke("PING").content == "pong"
        stream = _chain().stream("PING")
        assert "".join(str(c.content) for c in stream) == "pong"
