"""Print each finished trace as a readable tree, with tokens and cost.

>>> threadline.instrument(exporter=ConsoleSpanExporter())

Spans are held until their trace's root span ends, then the whole trace is
printed at once::

    trace 4bf92f3577b34da6 · session chat-42 · user u-1 · 1.23 s · 2 model calls · in 120 · out 30 · $0.000042
    └─ handle-turn  observe  1.23 s
       ├─ chat gpt-4o-mini  model  812 ms  in 120 (cached 40) · out 30 · $0.000042
       └─ execute_tool search  tool  12 ms  ERROR ValueError: boom

The buffer is bounded: when it is full the oldest incomplete trace is
dropped and counted in :attr:`ConsoleSpanExporter.dropped_spans`. Traces whose
root never reaches this exporter (their root belongs to another tracer
provider) are printed, marked partial, by the exporter's ``force_flush`` and
``shutdown`` (``threadline.shutdown()`` and interpreter exit).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from threadline import semconv as sc
from threadline.records import SpanKind

logger = logging.getLogger("threadline")

DEFAULT_MAX_BUFFERED_SPANS = 10_000
_MODEL_KINDS = (SpanKind.MODEL.value, SpanKind.EMBEDDING.value)


def _duration(span: ReadableSpan) -> str:
    if span.start_time is None or span.end_time is None:
        return "?"
    ms = (span.end_time - span.start_time) / 1e6
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


def _cost(value: float) -> str:
    return f"${value:.6f}"


def _tokens(attrs: Any) -> str:
    parts: list[str] = []
    inp = attrs.get(sc.GEN_AI_USAGE_INPUT_TOKENS)
    out = attrs.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS)
    if inp is not None:
        details = []
        if attrs.get(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS):
            details.append(f"cached {attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]}")
        if attrs.get(sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS):
            details.append(f"cache write {attrs[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS]}")
        parts.append(f"in {inp}" + (f" ({', '.join(details)})" if details else ""))
    if out is not None:
        reasoning = attrs.get(sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)
        parts.append(f"out {out}" + (f" (reasoning {reasoning})" if reasoning else ""))
    cost = attrs.get(sc.GEN_AI_USAGE_COST)
    if cost is not None:
        parts.append(_cost(cost))
    return " · ".join(parts)


def _line(span: ReadableSpan) -> str:
    attrs = span.attributes or {}
    bits = [span.name]
    kind = attrs.get(sc.SPAN_KIND)
    if kind:
        bits.append(str(kind))
    bits.append(_duration(span))
    usage = _tokens(attrs)
    if usage:
        bits.append(usage)
    ttft = attrs.get(sc.TIME_TO_FIRST_TOKEN)
    if ttft is not None:
        bits.append(f"first token {ttft:.0f} ms")
    if span.status.status_code is StatusCode.ERROR:
        bits.append("ERROR" + (f" {span.status.description}" if span.status.description else ""))
    else:
        outcome = attrs.get(sc.OUTCOME)
        if outcome and outcome != sc.OUTCOME_OK:
            bits.append(str(outcome).upper())
    return "  ".join(bits)


def render_trace(spans: Sequence[ReadableSpan], *, partial: bool = False) -> str:
    """The text tree of one trace's spans (children by start time), with a summary line."""
    by_id = {s.context.span_id: s for s in spans}
    children: dict[int, list[ReadableSpan]] = {}
    tops: list[ReadableSpan] = []
    for s in spans:
        parent = s.parent.span_id if s.parent is not None else None
        if parent is not None and parent in by_id:
            children.setdefault(parent, []).append(s)
        else:
            tops.append(s)

    def key(s: ReadableSpan) -> int:
        return s.start_time or 0

    session = user = None
    model_calls = 0
    total_in = total_out = 0
    cost = 0.0
    has_usage = has_cost = False
    for s in spans:
        attrs = s.attributes or {}
        session = session or attrs.get(sc.SESSION_ID)
        user = user or attrs.get(sc.USER_ID)
        if attrs.get(sc.SPAN_KIND) in _MODEL_KINDS:
            model_calls += 1
        if sc.GEN_AI_USAGE_INPUT_TOKENS in attrs or sc.GEN_AI_USAGE_OUTPUT_TOKENS in attrs:
            has_usage = True
            total_in += int(attrs.get(sc.GEN_AI_USAGE_INPUT_TOKENS) or 0)
            total_out += int(attrs.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS) or 0)
        if sc.GEN_AI_USAGE_COST in attrs:
            has_cost = True
            cost += float(attrs[sc.GEN_AI_USAGE_COST])

    first = min((s.start_time for s in spans if s.start_time is not None), default=None)
    last = max((s.end_time for s in spans if s.end_time is not None), default=None)
    header = [f"trace {format(spans[0].context.trace_id, '032x')[:16]}"]
    if partial:
        header.append("partial")
    if session:
        header.append(f"session {session}")
    if user:
        header.append(f"user {user}")
    if first is not None and last is not None:
        header.append(f"{(last - first) / 1e9:.2f} s")
    header.append(f"{len(spans)} span{'s' if len(spans) != 1 else ''}")
    if model_calls:
        header.append(f"{model_calls} model call{'s' if model_calls != 1 else ''}")
    if has_usage:
        header.append(f"in {total_in}")
        header.append(f"out {total_out}")
    if has_cost:
        header.append(_cost(cost))
    lines = [" · ".join(header)]

    def walk(span: ReadableSpan, prefix: str, last_child: bool) -> None:
        lines.append(prefix + ("└─ " if last_child else "├─ ") + _line(span))
        kids = sorted(children.get(span.context.span_id, ()), key=key)
        for i, kid in enumerate(kids):
            walk(kid, prefix + ("   " if last_child else "│  "), i == len(kids) - 1)

    ordered = sorted(tops, key=key)
    for i, top in enumerate(ordered):
        walk(top, "", i == len(ordered) - 1)
    return "\n".join(lines) + "\n"


class ConsoleSpanExporter(SpanExporter):
    """Prints one tree per trace to ``file`` (standard error by default) when its root ends.

    ``max_buffered_spans`` bounds the spans held for traces still running;
    past it the oldest trace is dropped and counted in :attr:`dropped_spans`.
    """

    local = True  # written on this machine: threadline's batch processor sends it small, frequent batches

    def __init__(self, file: TextIO | None = None, *, max_buffered_spans: int = DEFAULT_MAX_BUFFERED_SPANS) -> None:
        self._file = file
        self.max_buffered_spans = max_buffered_spans
        self.dropped_spans = 0
        self._pending: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._buffered = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def file(self) -> TextIO:
        """Where trees are printed (``sys.stderr`` looked up at print time by default)."""
        return self._file if self._file is not None else sys.stderr

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Buffer ``spans``; print every trace whose root span is among them."""
        if self._closed:
            return SpanExportResult.FAILURE
        ready: list[list[ReadableSpan]] = []
        with self._lock:
            for span in spans:
                trace_id = span.context.trace_id
                self._pending.setdefault(trace_id, []).append(span)
                self._buffered += 1
                if span.parent is None or span.parent.is_remote:
                    done = self._pending.pop(trace_id)
                    self._buffered -= len(done)
                    ready.append(done)
            while self._buffered > self.max_buffered_spans and self._pending:
                _, dropped = self._pending.popitem(last=False)
                self._buffered -= len(dropped)
                self.dropped_spans += len(dropped)
        return self._print([render_trace(trace) for trace in ready])

    def _print(self, texts: list[str]) -> SpanExportResult:
        if not texts:
            return SpanExportResult.SUCCESS
        try:
            out = self.file
            out.write("".join(texts))
            out.flush()
        except Exception:  # a closed or broken stream must not reach the batch thread
            logger.warning("threadline: the console exporter could not print", exc_info=True)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _drain(self) -> bool:
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
            self._buffered = 0
        return self._print([render_trace(t, partial=True) for t in pending]) is SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Print the traces still waiting for their root, marked partial."""
        return self._drain()

    def shutdown(self) -> None:
        """Print what is still buffered; later exports fail."""
        self._drain()
        self._closed = True
