"""Keep exporter failures away from the application, and count what they lose.

Every exporter threadline's own pipeline sends to is wrapped in a
:class:`SafeSpanExporter`: an exporter that raises, returns ``FAILURE`` or
cannot reach its backend never raises into the batch processor, and the spans
it loses are counted (:attr:`SafeSpanExporter.dropped_spans`, and process-wide
by :func:`dropped_spans`) and logged once per exporter. The batch processor of
each exporter is a :class:`CountingBatchSpanProcessor`, which counts the spans
its bounded queue drops when export cannot keep up (a hung or slow exporter).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.environment_variables import OTEL_BSP_SCHEDULE_DELAY
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

logger = logging.getLogger("threadline")

_lock = threading.Lock()
_dropped_total = 0
# exporter as passed -> its wrapper; weak both ways, so that neither outlives its pipeline
_wrappers: weakref.WeakKeyDictionary[Any, weakref.ref[SafeSpanExporter]] = weakref.WeakKeyDictionary()


def dropped_spans(exporter: SpanExporter | None = None) -> int:
    """Spans lost in this process since it started: by ``exporter`` (as you passed it), or by all."""
    if exporter is None:
        return _dropped_total
    if isinstance(exporter, SafeSpanExporter):
        return exporter.dropped_spans
    wrapper = _wrapper_of(exporter)
    return wrapper.dropped_spans if wrapper is not None else 0


def _wrapper_of(exporter: SpanExporter) -> SafeSpanExporter | None:
    """The live safe wrapper of ``exporter`` (as the user passed it), if any."""
    ref = _wrappers.get(exporter)
    return ref() if ref is not None else None


def _count(n: int) -> None:
    global _dropped_total
    with _lock:
        _dropped_total += n


def count_dropped(exporter: SpanExporter, count: int, why: str) -> None:
    """Count spans ``exporter`` left out of a batch it otherwise wrote (it logs why itself, once).

    For an exporter that drops single spans, not whole batches (which a ``FAILURE`` result reports):
    the spans count in :func:`dropped_spans` as if the batch had lost them, and ``threadline.flush()``
    returns False.
    """
    wrapper = _wrapper_of(exporter)
    if wrapper is not None:
        wrapper.note_dropped(count, why, quiet=True)
    else:
        _count(count)


class SafeSpanExporter(SpanExporter):
    """Wraps an exporter: never raises, counts the spans it loses, logs the first loss.

    Args:
        exporter: any OpenTelemetry ``SpanExporter``.
    """

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter
        self.dropped_spans = 0
        self._lock = threading.Lock()
        self._logged = False
        # A DialectSpanExporter's losses are those of the exporter the user passed (it wraps).
        for key in (exporter, getattr(exporter, "dialect_target", None)):
            try:
                if key is not None:
                    _wrappers[key] = weakref.ref(self)
            except TypeError:  # not weak-referenceable: only the process-wide count covers it
                pass

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export through the wrapped exporter; a raise or a FAILURE counts the batch as dropped."""
        try:
            result = self.exporter.export(spans)
        except Exception as exc:  # noqa: BLE001 - an exporter never raises into the batch processor
            self.note_dropped(len(spans), f"it raised {type(exc).__name__}: {exc}", exc)
            return SpanExportResult.FAILURE
        if result is SpanExportResult.FAILURE:
            # An exporter that logs why it failed (once per cause) is not logged over again here.
            self.note_dropped(
                len(spans), "it returned FAILURE", quiet=getattr(self.exporter, "logs_its_failures", False)
            )
        return result

    def note_dropped(self, count: int, why: str, exc: BaseException | None = None, *, quiet: bool = False) -> None:
        """Count ``count`` lost spans; the first loss of this exporter is logged (unless ``quiet``)."""
        if count <= 0:
            return
        with self._lock:
            self.dropped_spans += count
            first = not self._logged and not quiet
            self._logged = self._logged or first
        _count(count)
        if first:
            logger.warning(
                "threadline: %d span(s) could not be exported by %r (%s); later losses are counted "
                "(threadline.exporters._safe.dropped_spans(exporter)) but not logged again",
                count,
                self.exporter,
                why,
                exc_info=exc,
            )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped exporter; False (never a raise) if it fails."""
        try:
            return bool(self.exporter.force_flush(timeout_millis))
        except Exception:  # noqa: BLE001
            logger.warning("threadline: flushing %r failed", self.exporter, exc_info=True)
            return False

    def shutdown(self) -> None:
        """Shut the wrapped exporter down; a failure is logged, never raised."""
        try:
            self.exporter.shutdown()
        except Exception:  # noqa: BLE001
            logger.warning("threadline: shutting down %r failed", self.exporter, exc_info=True)

    def __repr__(self) -> str:
        return f"SafeSpanExporter({self.exporter!r})"


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """OpenTelemetry's batch processor, counting the spans its full queue drops.

    The queue is bounded (``OTEL_BSP_MAX_QUEUE_SIZE``, 2048 by default): when
    the exporter cannot keep up, each new span pushes out the oldest one. That
    loss is counted on the :class:`SafeSpanExporter` it feeds.
    """

    def __init__(self, exporter: SafeSpanExporter, **options: Any) -> None:
        super().__init__(exporter, **options)
        self._safe = exporter

    def on_end(self, span: ReadableSpan) -> None:
        """Queue ``span``; when the queue is full, count the span it pushes out.

        The check and the SDK's append are not atomic: if the batch thread
        takes a batch in between, a span is counted that was not lost (an
        over-count by one, only while the queue is full anyway).
        """
        # The queue is the SDK's (a bounded deque); if a future SDK hides it, nothing is counted.
        queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)
        maxlen = getattr(queue, "maxlen", None)
        if (
            maxlen is not None
            and len(queue) >= maxlen
            and span.context is not None
            and span.context.trace_flags.sampled
        ):
            self._safe.note_dropped(1, "the export queue is full: the exporter is not keeping up")
            # The SDK would log a warning for every span it drops; threadline has counted it and logs once.
            _quiet.on = True
            try:
                super().on_end(span)
            finally:
                _quiet.on = False
            return
        super().on_end(span)


class _QuietWhileDropping(threading.local, logging.Filter):
    """Drops the SDK's per-span "queue full" records while this thread is in a threadline processor's drop."""

    on = False

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.on


_quiet = _QuietWhileDropping()
# Where OpenTelemetry's batch processors log a full queue (1.45: the shared batch processor; older: trace.export).
for _name in ("opentelemetry.sdk._shared_internal", "opentelemetry.sdk.trace.export"):
    logging.getLogger(_name).addFilter(_quiet)


LOCAL_SCHEDULE_DELAY_MS = 500


def batch_processor(exporter: SpanExporter) -> CountingBatchSpanProcessor:
    """The batch processor threadline puts in front of ``exporter`` (wrapped to be safe).

    threadline's local exporters (the SQLite store, JSONL, console) are woken
    every half second rather than OpenTelemetry's five, so a span shows in the
    store soon. Their batches stay at OpenTelemetry's 512: a write transaction runs
    a few dozen SQLite statements whatever its size (:mod:`threadline.store.batched`),
    and every statement gives the GIL away; beside a CPU-bound application thread
    the export thread then waits up to the interpreter's switch interval (5 ms) to
    get it back. With batches of 64 that wait capped the store at ~400 spans/s and
    a tight LangGraph loop dropped 78 % of its spans; with 512 (and fewer statements
    a batch) that loop's ~1,700 spans/s are written with 0-5 % dropped.
    Other exporters keep OpenTelemetry's defaults, which suit network
    backends. The ``OTEL_BSP_*`` environment variables win over both.
    """
    safe = exporter if isinstance(exporter, SafeSpanExporter) else SafeSpanExporter(exporter)
    options: dict[str, Any] = {}
    if getattr(exporter, "local", False):
        if not os.environ.get(OTEL_BSP_SCHEDULE_DELAY):
            options["schedule_delay_millis"] = LOCAL_SCHEDULE_DELAY_MS
    return CountingBatchSpanProcessor(safe, **options)
