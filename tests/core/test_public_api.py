"""The public surface: instrument / uninstrument / flush / shutdown, and a docstring on every public name."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import types
from collections.abc import Iterator
from importlib import metadata
from typing import Any, ClassVar

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import threadline
from threadline import _runtime, plugins
from threadline import semconv as sc
from threadline.integration import Integration

FAKE_MODULE = "threadline_fake_api_plugin"


class _Counting(Integration):
    name: ClassVar[str] = "counting"
    active: ClassVar[int] = 0
    instrument_calls: ClassVar[int] = 0

    def _instrument(self, **options: Any) -> None:
        type(self).active += 1
        type(self).instrument_calls += 1

    def _uninstrument(self) -> None:
        type(self).active -= 1


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Counting]]:
    module = types.ModuleType(FAKE_MODULE)
    module._Counting = _Counting  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, FAKE_MODULE, module)
    ep = metadata.EntryPoint("counting", f"{FAKE_MODULE}:_Counting", plugins.ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins, "available", lambda: {"counting": ep})
    _Counting.active = _Counting.instrument_calls = 0
    yield _Counting


@threadline.observe("work")
def _work() -> str:
    return "done"


def test_instrument_is_idempotent_and_returns_an_undo(counting: type[_Counting]) -> None:
    exporter = InMemorySpanExporter()
    first = threadline.instrument(exporter=exporter)
    second = threadline.instrument(exporter=exporter)
    assert isinstance(first, threadline.Instrumentation)
    assert first.integrations == second.integrations == ("counting",)
    assert counting.instrument_calls == 1 and counting.active == 1
    assert "counting" in repr(first)

    _work()
    assert threadline.flush(5)
    assert [s.name for s in exporter.get_finished_spans()] == ["work"]  # one span, not two

    first.undo()
    assert counting.active == 0
    first.undo()  # undoing twice is harmless
    assert counting.active == 0


def test_instrumentation_is_a_context_manager(counting: type[_Counting]) -> None:
    with threadline.instrument(exporter=InMemorySpanExporter()) as inst:
        assert inst.integrations == ("counting",)
        assert counting.active == 1
    assert counting.active == 0


def test_uninstrument_by_name_and_all(counting: type[_Counting]) -> None:
    threadline.uninstrument()  # nothing instrumented yet: a no-op
    threadline.instrument(exporter=InMemorySpanExporter())
    threadline.uninstrument(["not-instrumented"])
    assert counting.active == 1
    threadline.uninstrument(["counting"])
    assert counting.active == 0
    threadline.instrument(exporter=InMemorySpanExporter())
    threadline.uninstrument()
    assert counting.active == 0


def test_new_settings_take_effect_on_a_second_call() -> None:
    exporter = InMemorySpanExporter()
    threadline.instrument(exporter=exporter, integrations=[])
    threadline.instrument(integrations=[], capture_content=False)  # same provider, new settings
    _work()
    threadline.flush(5)
    (span,) = exporter.get_finished_spans()
    assert sc.OI_OUTPUT_VALUE not in span.attributes


def test_a_new_exporter_replaces_the_old_pipeline() -> None:
    old, new = InMemorySpanExporter(), InMemorySpanExporter()
    threadline.instrument(exporter=old, integrations=[])
    _work()
    threadline.instrument(exporter=new, integrations=[])  # flushes and shuts down the old pipeline
    _work()
    threadline.flush(5)
    assert len(old.get_finished_spans()) == 1
    assert len(new.get_finished_spans()) == 1


def test_a_list_of_exporters_all_receive_spans() -> None:
    a, b = InMemorySpanExporter(), InMemorySpanExporter()
    threadline.instrument(exporter=[a, b], integrations=[])
    _work()
    assert threadline.flush(5)
    assert [s.name for s in a.get_finished_spans()] == ["work"]
    assert [s.name for s in b.get_finished_spans()] == ["work"]


def test_flush_and_shutdown() -> None:
    assert threadline.flush() is True  # nothing configured yet
    threadline.shutdown()  # nor is this an error
    exporter = InMemorySpanExporter()
    threadline.instrument(exporter=exporter, integrations=[])
    _work()
    assert exporter.get_finished_spans() == ()  # batched: not exported yet
    assert threadline.flush(5) is True
    assert len(exporter.get_finished_spans()) == 1
    _work()
    threadline.shutdown()  # flushes what is pending
    assert len(exporter.get_finished_spans()) == 2
    assert _runtime.state.provider is None
    threadline.shutdown()


def test_a_users_tracer_provider_is_used_and_left_running() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with threadline.session("chat-1"):
        threadline.instrument(tracer_provider=provider, integrations=[])
        _work()
    assert [s.name for s in exporter.get_finished_spans()] == ["work"]
    assert exporter.get_finished_spans()[0].attributes[sc.SESSION_ID] == "chat-1"
    threadline.shutdown()
    with provider.get_tracer("app").start_as_current_span("still-works"):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["work", "still-works"]


def test_the_global_tracer_provider_is_never_touched() -> None:
    before = otel_trace.get_tracer_provider()
    threadline.instrument(exporter=InMemorySpanExporter(), integrations=[])
    _work()
    assert otel_trace.get_tracer_provider() is before


def test_an_unknown_integration_raises_value_error() -> None:
    with pytest.raises(ValueError, match="unknown threadline integration"):
        threadline.instrument(integrations=["definitely-not-a-plugin"])


# --- docstrings ---------------------------------------------------------------------------------


def _public_objects() -> Iterator[tuple[str, Any]]:
    for name in threadline.__all__:
        yield f"threadline.{name}", getattr(threadline, name)
    modules = [threadline] + [
        importlib.import_module(m.name)
        for m in pkgutil.walk_packages(threadline.__path__, "threadline.")
        if not m.name.endswith(".__main__")  # running it is its only job
    ]
    for module in modules:
        yield module.__name__, module
        exported = getattr(module, "__all__", None)
        for name, obj in vars(module).items():
            if name.startswith("_") or (exported is not None and name not in exported):
                continue
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property) or inspect.isfunction(member):
            yield name, getattr(cls, name) if not isinstance(member, property) else member
        elif isinstance(member, (classmethod, staticmethod)):
            yield name, member.__func__


def test_every_public_name_has_a_docstring() -> None:
    missing: list[str] = []
    for qualname, obj in _public_objects():
        if not inspect.getdoc(obj):
            missing.append(qualname)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for name, member in _members(obj):
                doc = inspect.getdoc(member)
                if not doc and not any(inspect.getdoc(getattr(base, name, None)) for base in obj.__mro__[1:]):
                    missing.append(f"{qualname}.{name}")
    assert sorted(set(missing)) == []
