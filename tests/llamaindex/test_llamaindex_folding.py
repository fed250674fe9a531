"""Folded dispatcher spans: what runs inside them reports to the span they fold into, and nothing else leaks.

LlamaIndex opens a dispatcher span around most internal methods; threadline
folds those into their nearest kept ancestor. Here a folded span is made with
a class from a ``llama_index.*`` module that threadline does not keep.
"""

from __future__ import annotations

from llama_index.core.instrumentation import get_dispatcher
from workflows.runtime.types.step_function import SpanCancelledEvent

from threadline import _runtime
from threadline import semconv as sc

dispatcher = get_dispatcher(__name__)


@dispatcher.span
def lookup(key: str) -> str:
    """A user's own function with a dispatcher span: kept."""
    return key.upper()


class Internal:
    """An internal LlamaIndex helper: its spans fold into the caller's span."""

    @dispatcher.span
    def work(self, key: str, *, cancel_event: bool = False) -> str:
        if cancel_event:
            dispatcher.event(SpanCancelledEvent(reason="an internal step was cancelled"))
        return lookup(key)


Internal.__module__ = "llama_index.core.threadline_test_internal"


class Pipeline:
    """The user's own class with a dispatcher span: kept."""

    @dispatcher.span
    def run(self, key: str, *, cancel_event: bool = False) -> str:
        return Internal().work(key, cancel_event=cancel_event) + Internal().work(key)

    @dispatcher.span
    def stop(self) -> str:
        get_dispatcher().shutdown()
        return "stopped"


def _attrs(span):
    return dict(span.attributes or {})


def _tracker():
    return _runtime.state.integrations["llamaindex"].tracker


def test_spans_below_a_folded_span_parent_under_its_kept_ancestor(spans):
    assert Pipeline().run("a") == "AA"
    run = spans.one("Pipeline.run")
    calls = spans.by_name("lookup")
    assert len(calls) == 2
    assert all(call.parent.span_id == run.context.span_id for call in calls)
    assert not [s for s in spans.finished() if "Internal" in s.name]
    assert _tracker().open_count() == 0


def test_an_event_inside_a_folded_span_does_not_change_the_span_it_folds_into(spans):
    assert Pipeline().run("a", cancel_event=True) == "AA"
    assert _attrs(spans.one("Pipeline.run"))[sc.OUTCOME] == "ok"


def test_dispatcher_shutdown_inside_a_span_ends_it_as_an_error(spans):
    assert Pipeline().stop() == "stopped"
    stop = spans.one("Pipeline.stop")
    assert _attrs(stop)[sc.OUTCOME] == "error"
    assert _tracker().open_count() == 0


class Shared:
    """A base with a dispatcher span, for two subclasses of one name (their spans are both ``Impl.go``)."""

    @dispatcher.span
    def go(self, key: str) -> str:
        return lookup(key)


UserImpl = type("Impl", (Shared,), {"__module__": __name__})  # the user's class: its spans are kept
InternalImpl = type("Impl", (Shared,), {"__module__": "llama_index.core.threadline_test_internal"})  # folded


def test_one_span_name_is_decided_per_class(spans):
    # The decision is cached by class and span name: the name alone must not decide another class's spans.
    for _ in range(2):
        assert InternalImpl().go("a") == "A"
        assert UserImpl().go("b") == "B"
    kept = spans.by_name("Impl.go")
    assert len(kept) == 2
    kept_ids = {s.context.span_id for s in kept}
    lookups = spans.by_name("lookup")
    assert len(lookups) == 4
    assert sum(1 for call in lookups if call.parent is not None and call.parent.span_id in kept_ids) == 2
    assert _tracker().open_count() == 0
