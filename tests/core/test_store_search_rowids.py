"""The exporter's search index rows belong to the right spans, also when a batch repeats a stored span."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from threadline import semconv as sc
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.store import search

TRACE = 0xABC


def _span(span_id: int, text: str, *, trace_id: int = TRACE, model: str | None = None) -> ReadableSpan:
    attributes = {sc.OI_INPUT_VALUE: text}
    if model is not None:  # another set of non-NULL columns: another INSERT statement
        attributes[sc.GEN_AI_REQUEST_MODEL] = model
    context = SpanContext(trace_id, span_id, False, TraceFlags(1))
    return ReadableSpan(name=f"span-{span_id}", context=context, attributes=attributes, start_time=1, end_time=2)


def _found(db: Path, word: str) -> list[tuple[str, str]]:
    return [(hit.trace_id, hit.span_id) for hit in search.search(db, word)]


def test_each_text_is_found_on_its_own_span_when_a_batch_repeats_a_stored_one(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    exporter = SQLiteSpanExporter(db)
    exporter.export([_span(1, "alpha"), _span(2, "bravo", model="m")])
    # span 1 again (kept as first stored, not inserted twice) between two new spans of its shape
    exporter.export([_span(3, "charlie"), _span(1, "alpha again"), _span(4, "delta"), _span(5, "echo", model="m")])
    exporter.export([_span(6, "foxtrot", trace_id=0xDEF), _span(7, "golf", trace_id=0xDEF, model="m")])
    exporter.shutdown()

    trace, other = f"{TRACE:032x}", f"{0xDEF:032x}"
    for word, trace_id, span_id in [
        ("bravo", trace, 2),
        ("charlie", trace, 3),
        ("delta", trace, 4),
        ("echo", trace, 5),
        ("foxtrot", other, 6),
        ("golf", other, 7),
    ]:
        assert _found(db, word) == [(trace_id, f"{span_id:016x}")], word
    assert _found(db, "again") == [(trace, f"{1:016x}")]  # as before: the repeat's text on the stored span
