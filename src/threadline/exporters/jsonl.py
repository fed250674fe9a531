"""Write finished spans to a JSON Lines file: one JSON object per span per line.

>>> threadline.instrument(exporter=JSONLSpanExporter("spans.jsonl"))

Each batch is appended with a single ``write`` on a file opened in append
mode, so several threads (and processes) can share one file without
interleaving lines. Read it back with ``[json.loads(line) for line in f]``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

logger = logging.getLogger("threadline")


def _attributes(attributes: Any) -> dict[str, Any]:
    if not attributes:
        return {}
    return {str(k): list(v) if isinstance(v, tuple) else v for k, v in attributes.items()}


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """A JSON-ready dict of one finished span (ids in hex, times in Unix nanoseconds)."""
    ctx = span.context
    parent = span.parent
    start, end = span.start_time, span.end_time
    status = span.status
    scope = span.instrumentation_scope
    return {
        "trace_id": _hex(ctx.trace_id, 32) if ctx is not None else None,
        "span_id": _hex(ctx.span_id, 16) if ctx is not None else None,
        "parent_span_id": _hex(parent.span_id, 16) if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "duration_ms": (end - start) / 1e6 if start is not None and end is not None else None,
        "status": {"code": status.status_code.name, "description": status.description},
        "attributes": _attributes(span.attributes),
        "events": [
            {"name": e.name, "time_unix_nano": e.timestamp, "attributes": _attributes(e.attributes)}
            for e in span.events
        ],
        "links": [
            {
                "trace_id": _hex(link.context.trace_id, 32),
                "span_id": _hex(link.context.span_id, 16),
                "attributes": _attributes(link.attributes),
            }
            for link in span.links
        ],
        "resource": _attributes(span.resource.attributes) if span.resource is not None else {},
        "scope": {"name": scope.name, "version": scope.version} if scope is not None else None,
    }


class JSONLSpanExporter(SpanExporter):
    """Appends each finished span to ``path`` as one line of JSON.

    The parent directory is created if needed, and a new file readable by its
    owner only (``0600``: it holds prompts and completions). The file is opened on the first
    export and closed by :meth:`shutdown`; every batch goes out in one append,
    written through to the file before :meth:`export` returns.
    """

    local = True  # written on this machine: threadline's batch processor sends it small, frequent batches

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append ``spans``; FAILURE (logged) when the file cannot be written."""
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            data = "".join(
                json.dumps(span_to_dict(s), ensure_ascii=False, default=str, separators=(",", ":")) + "\n"
                for s in spans
            ).encode("utf-8")
        except Exception:  # an exporter never raises into the batch processor
            logger.warning("threadline: could not serialise spans for %s", self.path, exc_info=True)
            return SpanExportResult.FAILURE
        with self._lock:
            if self._closed:
                return SpanExportResult.FAILURE
            try:
                if self._fd is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                view = memoryview(data)
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
            except OSError:
                logger.warning("threadline: could not write spans to %s", self.path, exc_info=True)
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered: every export is written through."""
        return True

    def shutdown(self) -> None:
        """Close the file; later exports fail."""
        with self._lock:
            self._closed = True
            if self._fd is not None:
                try:
                    os.close(self._fd)
                finally:
                    self._fd = None
