"""Test helpers: capture threadline's spans in memory, synchronously.

>>> with capture(integrations=["langgraph"]) as spans:
...     graph.invoke(...)
>>> [s.name for s in spans.finished()]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from threadline import semconv as sc


class CapturedSpans:
    """The spans finished while capturing, with a few lookups tests need."""

    def __init__(self, exporter: InMemorySpanExporter, provider: TracerProvider) -> None:
        self.exporter = exporter
        self.provider = provider

    def finished(self) -> list[ReadableSpan]:
        """All finished spans, in end order."""
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        """Forget the spans captured so far."""
        self.exporter.clear()

    def by_name(self, name: str) -> list[ReadableSpan]:
        """Finished spans with this exact name."""
        return [s for s in self.finished() if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        """The single finished span with this name (fails if not exactly one)."""
        found = self.by_name(name)
        assert len(found) == 1, f"expected one span named {name!r}, got {[s.name for s in self.finished()]}"
        return found[0]

    def of_kind(self, kind: str) -> list[ReadableSpan]:
        """Finished spans whose ``threadline.span.kind`` is ``kind``."""
        return [s for s in self.finished() if (s.attributes or {}).get(sc.SPAN_KIND) == kind]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """Direct children of ``parent``, by start time."""
        pid = parent.context.span_id
        kids = [s for s in self.finished() if s.parent is not None and s.parent.span_id == pid]
        return sorted(kids, key=lambda s: s.start_time or 0)

    def roots(self) -> list[ReadableSpan]:
        """Spans without a parent, by start time."""
        return sorted((s for s in self.finished() if s.parent is None), key=lambda s: s.start_time or 0)

    def traces(self) -> dict[int, list[ReadableSpan]]:
        """Finished spans grouped by trace id."""
        out: dict[int, list[ReadableSpan]] = {}
        for s in self.finished():
            out.setdefault(s.context.trace_id, []).append(s)
        return out

    def tree(self) -> str:
        """An indented text tree of every trace (handy in assertion messages)."""
        lines: list[str] = []

        def walk(span: ReadableSpan, depth: int) -> None:
            lines.append("  " * depth + span.name)
            for child in self.children(span):
                walk(child, depth + 1)

        for root in self.roots():
            walk(root, 0)
        return "\n".join(lines)


@contextlib.contextmanager
def capture(integrations: Iterable[str] | None = None, **instrument_options: Any) -> Iterator[CapturedSpans]:
    """Instrument with an in-memory exporter and a synchronous processor; undo on exit.

    Captured spans are what an OTLP backend receives: with the attributes of
    ``dialects`` (an ``instrument()`` option; all by default, ``()`` for
    threadline's own vocabulary alone).
    """
    import threadline
    from threadline.dialects import DIALECTS
    from threadline.exporters.dialects import DialectSpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    dialects = instrument_options.get("dialects")
    provider.add_span_processor(
        SimpleSpanProcessor(DialectSpanExporter(exporter, DIALECTS if dialects is None else dialects))
    )
    threadline.instrument(tracer_provider=provider, integrations=integrations, **instrument_options)
    try:
        yield CapturedSpans(exporter, provider)
    finally:
        threadline.uninstrument()
        from threadline import _runtime

        _runtime.shutdown(timeout=5)
