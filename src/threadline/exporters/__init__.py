"""Span exporters shipped with threadline (any OpenTelemetry ``SpanExporter`` works too).

* :class:`SQLiteSpanExporter`: the embedded store the CLI reads (the default);
* :class:`JSONLSpanExporter`: one JSON object per span per line;
* :class:`ConsoleSpanExporter`: a readable tree per trace, with tokens and cost;
* :func:`otlp_exporter`: the official OTLP/HTTP exporter (``pip install 'threadline[otlp]'``);
* :class:`DialectSpanExporter`: wraps any exporter, adding the OpenTelemetry GenAI,
  OpenInference and Langfuse attributes backends read (applied by ``instrument()``).

Each is imported on first use, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from threadline.exporters.console import ConsoleSpanExporter
    from threadline.exporters.dialects import DialectSpanExporter
    from threadline.exporters.jsonl import JSONLSpanExporter
    from threadline.exporters.otlp import otlp_exporter
    from threadline.exporters.sqlite import SQLiteSpanExporter

__all__ = ["ConsoleSpanExporter", "DialectSpanExporter", "JSONLSpanExporter", "SQLiteSpanExporter", "otlp_exporter"]

_WHERE = {
    "ConsoleSpanExporter": "threadline.exporters.console",
    "DialectSpanExporter": "threadline.exporters.dialects",
    "JSONLSpanExporter": "threadline.exporters.jsonl",
    "SQLiteSpanExporter": "threadline.exporters.sqlite",
    "otlp_exporter": "threadline.exporters.otlp",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
