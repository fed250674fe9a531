"""Send spans to any OpenTelemetry backend over OTLP/HTTP (Phoenix, Langfuse, a collector ...).

>>> threadline.instrument(exporter=otlp_exporter("http://localhost:6006/v1/traces"))

A thin factory over the official ``OTLPSpanExporter`` from
``opentelemetry-exporter-otlp-proto-http`` (``pip install 'threadline[otlp]'``).
Sessions, tokens and cost travel as span attributes (``session.id``,
``gen_ai.usage.*``, ``gen_ai.usage.cost``), so no backend-specific code is
needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

TRACES_PATH = "/v1/traces"


def _traces_url(endpoint: str) -> str:
    """``http://host:4318`` -> ``http://host:4318/v1/traces``; a URL with a path is kept as is."""
    parts = urlsplit(endpoint)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path=TRACES_PATH))
    return endpoint


def otlp_exporter(endpoint: str | None = None, headers: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
    """An OTLP/HTTP (protobuf) ``SpanExporter`` for ``endpoint``.

    Args:
        endpoint: the traces URL. A bare base URL (``http://localhost:4318``)
            gets the standard ``/v1/traces`` path appended. ``None`` defers to
            the ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
            ``OTEL_EXPORTER_OTLP_ENDPOINT`` environment variables, then
            ``http://localhost:4318/v1/traces``.
        headers: extra HTTP headers (e.g. ``{"Authorization": "Bearer ..."}``);
            ``OTEL_EXPORTER_OTLP_HEADERS`` is read when omitted.
        **kwargs: passed to ``OTLPSpanExporter`` unchanged (``timeout``,
            ``compression``, ``certificate_file``, ``session`` ...).

    Raises:
        ImportError: naming the ``threadline[otlp]`` extra when the OTLP
            exporter package is not installed.
    """
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ImportError(
            "threadline.exporters.otlp_exporter needs the OpenTelemetry OTLP/HTTP exporter: "
            "pip install 'threadline[otlp]' (or opentelemetry-exporter-otlp-proto-http)"
        ) from exc
    if endpoint is not None:
        endpoint = _traces_url(endpoint)
    return OTLPSpanExporter(endpoint=endpoint, headers=dict(headers) if headers is not None else None, **kwargs)
