"""Other LangChain/LangGraph tracers, run side by side with threadline on the same workload.

Each peer gets its own ``TracerProvider`` with a batch processor and an
in-memory exporter (nothing leaves the process), and is instrumented for its
block only. A peer that is not installed (see ``requirements-peers.txt``) is
skipped with a note. A "bare handler" gives the floor: a LangChain callback
handler that only opens and closes one OTel span per run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from benchmarks.harness import SkipError, Variant

CallWith = Callable[[list[Any] | None], Callable[[int], Any]]
"""Builds a workload call that passes these LangChain callbacks in the run config (or none)."""


def _memory_provider() -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, exporter


def _flusher(provider: Any) -> Callable[[], None]:
    def finish() -> None:
        provider.force_flush()

    return finish


def _in_memory(label: str, provider: Any, exporter: Any, **variant: Any) -> Variant:
    """A variant whose spans go to ``exporter`` through ``provider``: flushed in the block, counted, then cleared."""
    variant.setdefault("teardown", exporter.clear)
    return Variant(
        label,
        finish=_flusher(provider),
        count_spans=lambda: len(exporter.get_finished_spans()),
        note="in-memory exporter",
        **variant,
    )


# Framework attributes the peers patch. Some peers' uninstrument() leaves a patch behind
# (OpenLLMetry unwraps "BaseCallbackManager.__init__" on the module, which is a no-op), which
# would trace every later block; each peer's teardown puts the originals back.
_PATCHED = (
    ("langchain_core.callbacks.base", "BaseCallbackManager", "__init__"),
    ("langgraph.pregel.main", "Pregel", "stream"),
    ("langgraph.pregel.main", "Pregel", "astream"),
    ("langgraph.types", "Command", "__init__"),
)


def _snapshot() -> list[tuple[Any, str, Any]]:
    import importlib

    saved = []
    for module, cls_name, attr in _PATCHED:
        try:
            cls = getattr(importlib.import_module(module), cls_name)
        except Exception:
            continue
        saved.append((cls, attr, cls.__dict__.get(attr)))
    return saved


def _restore(saved: list[tuple[Any, str, Any]]) -> None:
    for cls, attr, original in saved:
        if original is not None and cls.__dict__.get(attr) is not original:
            setattr(cls, attr, original)


def _import(module: str, pip_name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except Exception as exc:
        raise SkipError(
            f"{pip_name} is not installed here ({type(exc).__name__}); "
            "install benchmarks/requirements-peers.txt in a separate venv to compare"
        ) from None


# -- the floor: one span per run, nothing else ----------------------------------------------
def bare_handler(call_with: CallWith) -> Variant:
    """A callback handler opening and closing one OTel span per LangChain run, parented by run id."""
    from langchain_core.callbacks import BaseCallbackHandler
    from opentelemetry import trace as otel_trace

    provider, exporter = _memory_provider()
    tracer = provider.get_tracer("bench.bare")

    class BareSpanHandler(BaseCallbackHandler):
        """Only spans: no attributes, no content, no usage, no sessions."""

        def __init__(self) -> None:
            self.spans: dict[UUID, Any] = {}
            self.lock = threading.Lock()

        def _start(self, name: str, run_id: UUID, parent_run_id: UUID | None) -> None:
            parent = self.spans.get(parent_run_id) if parent_run_id is not None else None
            ctx = otel_trace.set_span_in_context(parent) if parent is not None else None
            span = tracer.start_span(name, context=ctx)
            with self.lock:
                self.spans[run_id] = span

        def _end(self, run_id: UUID) -> None:
            with self.lock:
                span = self.spans.pop(run_id, None)
            if span is not None:
                span.end()

        def on_chain_start(
            self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
        ) -> None:
            self._start(kw.get("name") or "chain", run_id, parent_run_id)

        def on_chat_model_start(
            self, serialized: Any, messages: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
        ) -> None:
            self._start("chat", run_id, parent_run_id)

        def on_llm_start(
            self, serialized: Any, prompts: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
        ) -> None:
            self._start("llm", run_id, parent_run_id)

        def on_tool_start(
            self, serialized: Any, input_str: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
        ) -> None:
            self._start("tool", run_id, parent_run_id)

        def _finish(self, result: Any, *, run_id: UUID, **kw: Any) -> None:
            self._end(run_id)

        # A run ends the same way whether it returned or raised.
        on_chain_end = on_chain_error = on_llm_end = on_llm_error = on_tool_end = on_tool_error = _finish

    handler = BareSpanHandler()
    return _in_memory("bare handler (1 OTel span per run, for scale)", provider, exporter, call=call_with([handler]))


# -- peers ------------------------------------------------------------------------------------
def _instrumentor(label: str, module: str, pip_name: str, class_name: str) -> Variant:
    """A peer's OTel instrumentor ``module.class_name``, instrumented for each block and uninstrumented after it."""
    provider, exporter = _memory_provider()
    state: dict[str, Any] = {}

    def setup() -> None:
        mod = _import(module, pip_name)
        inst = state.setdefault("inst", getattr(mod, class_name)())
        state["saved"] = _snapshot()
        inst.instrument(tracer_provider=provider, skip_dep_check=True)

    def teardown() -> None:
        state["inst"].uninstrument()
        _restore(state.pop("saved", []))
        exporter.clear()

    return _in_memory(label, provider, exporter, setup=setup, teardown=teardown)


def openinference() -> Variant:
    """Arize OpenInference ``LangChainInstrumentor``."""
    return _instrumentor(
        "OpenInference LangChainInstrumentor",
        "openinference.instrumentation.langchain",
        "openinference-instrumentation-langchain",
        "LangChainInstrumentor",
    )


def openllmetry() -> Variant:
    """Traceloop OpenLLMetry ``LangchainInstrumentor`` (opentelemetry-instrumentation-langchain)."""
    return _instrumentor(
        "OpenLLMetry LangchainInstrumentor",
        "opentelemetry.instrumentation.langchain",
        "opentelemetry-instrumentation-langchain",
        "LangchainInstrumentor",
    )


def langfuse(call_with: CallWith) -> Variant:
    """Langfuse's LangChain ``CallbackHandler``, its OTLP exporter swapped for an in-memory one."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    state: dict[str, Any] = {}

    def setup() -> None:
        if "call" in state:
            return
        _import("langfuse.langchain", "langfuse")
        from langfuse import Langfuse
        from langfuse.langchain import CallbackHandler

        logging.getLogger("langfuse").setLevel(logging.ERROR)
        provider = TracerProvider()
        # span_exporter replaces the OTLP exporter Langfuse would build; the host is never contacted.
        client = Langfuse(
            public_key="pk-lf-bench",
            secret_key="sk-lf-bench",
            base_url="http://127.0.0.1:9",
            tracer_provider=provider,
            span_exporter=exporter,
        )
        state["client"] = client
        state["call"] = call_with([CallbackHandler(public_key="pk-lf-bench")])

    def call(i: int) -> Any:
        return state["call"](i)

    def finish() -> None:
        state["client"].flush()

    return Variant(
        "Langfuse CallbackHandler",
        setup=setup,
        call=call,
        finish=finish,
        teardown=exporter.clear,
        count_spans=lambda: len(exporter.get_finished_spans()),
        note="in-memory exporter, its own batch processor",
    )


def langchain_variants(call_with: CallWith) -> list[Variant]:
    """The bare handler, then every peer (each skipped with a note when not installed)."""
    return [bare_handler(call_with), openinference(), openllmetry(), langfuse(call_with)]


def bare_openai_wrapper() -> Variant:
    """A wrapt wrapper on ``SyncAPIClient.request`` opening and closing one OTel span, nothing else."""
    from openai._base_client import SyncAPIClient
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace

    provider, exporter = _memory_provider()
    tracer = provider.get_tracer("bench.bare")
    original = SyncAPIClient.__dict__["request"]

    def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        span = tracer.start_span("request", kind=otel_trace.SpanKind.CLIENT)
        token = otel_context.attach(otel_trace.set_span_in_context(span))
        try:
            return original(self, *args, **kwargs)
        finally:
            otel_context.detach(token)
            span.end()

    def setup() -> None:
        SyncAPIClient.request = request  # type: ignore[method-assign]

    def teardown() -> None:
        SyncAPIClient.request = original  # type: ignore[method-assign]
        exporter.clear()

    return _in_memory(
        "bare wrapper (1 OTel span per call, for scale)", provider, exporter, setup=setup, teardown=teardown
    )
