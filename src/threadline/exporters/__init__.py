"""Span exporters shipped with threadline (any OpenTelemetry ``SpanExporter`` works too)."""
