"""A span exporter wrapper that adds each backend's dialect on the way out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from threadline import guard
from threadline.dialects import DIALECTS, check, translate


def replace_span(span: ReadableSpan, **changes: Any) -> ReadableSpan:
    """A copy of the finished ``span`` with ``changes`` (``attributes``, ``context``, ``parent`` ...)."""
    fields = {
        "name": span.name,
        "context": span.context,
        "parent": span.parent,
        "resource": span.resource,
        "attributes": span.attributes,
        "events": span.events,
        "links": span.links,
        "kind": span.kind,
        "status": span.status,
        "start_time": span.start_time,
        "end_time": span.end_time,
        "instrumentation_scope": span.instrumentation_scope,
    }
    return ReadableSpan(**{**fields, **changes})


class DialectSpanExporter(SpanExporter):
    """Exports spans to ``exporter`` with the attributes of the chosen dialects added.

    ``threadline.instrument(exporter=...)`` wraps OTLP and custom exporters in
    it (see ``dialects=``); wrap your own exporter with it when you pass your
    own ``tracer_provider``. Spans threadline did not make pass unchanged, and
    so does a span whose translation fails (logged once).
    """

    def __init__(self, exporter: SpanExporter, dialects: Iterable[str] = DIALECTS) -> None:
        self.exporter = exporter
        self.dialects: Sequence[str] = check(dialects)

    @property
    def dialect_target(self) -> SpanExporter:
        """The exporter spans go to (losses counted by threadline are counted for it)."""
        return self.exporter

    @property
    def local(self) -> bool:
        """Whether the wrapped exporter writes locally (it then gets small, frequent batches)."""
        return bool(getattr(self.exporter, "local", False))

    def __repr__(self) -> str:
        return f"{self.exporter!r} (with dialects {', '.join(self.dialects)})"

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Translate, then hand the batch to the wrapped exporter."""
        if self.dialects:
            spans = [self.translated(span) for span in spans]
        return self.exporter.export(spans)

    def translated(self, span: ReadableSpan) -> ReadableSpan:
        """``span`` with its dialect attributes (the same span when there are none to add)."""
        try:
            attrs = span.attributes or {}
            extra = translate(attrs, self.dialects, name=span.name)
            if not extra:
                return span
            return replace_span(span, attributes={**attrs, **extra})
        except Exception as exc:  # noqa: BLE001 - a span we cannot translate still goes out
            guard.report("dialects.translate", exc)
            return span

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped exporter."""
        flush: Any = getattr(self.exporter, "force_flush", None)
        return bool(flush(timeout_millis)) if callable(flush) else True
