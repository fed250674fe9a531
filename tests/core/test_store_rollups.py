"""Rollups written with the spans: the same whatever the batches, their order, or a late root."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import threadline
from threadline import semconv as sc
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.integration import current_emitter
from threadline.records import Run, SpanKind
from threadline.store import open_store, queries, rollup_check

sys.path.insert(0, os.path.dirname(__file__))

from store_kit import record_support_sessions, same


def _everything(db: Path) -> dict[str, object]:
    sessions = queries.list_sessions(db, limit=None, order_by="session_id")
    traces = queries.list_traces(db, limit=None, order_by="trace_id")
    replays = [queries.get_session(db, s.session_id) for s in sessions]
    return {
        "sessions": [s.to_dict() for s in sessions],
        "traces": [t.to_dict() for t in traces],
        "replays": [r.to_dict() for r in replays if r is not None],
    }


def _no_drift(db: Path) -> list[str]:
    conn = open_store(db, create=False)
    try:
        return rollup_check.differences(conn)
    finally:
        conn.close()


def test_spans_in_shuffled_batches_sum_as_in_one(tmp_path: Path) -> None:
    scenario = record_support_sessions(tmp_path / "in-order.db")
    spans = list(scenario.spans)
    for seed in range(3):
        random.Random(seed).shuffle(spans)  # roots before or after their children, sessions interleaved
        db = tmp_path / f"shuffled-{seed}.db"
        exporter = SQLiteSpanExporter(db)
        for start in range(0, len(spans), 3):
            exporter.export(spans[start : start + 3])
        exporter.export(spans[:5])  # a batch retried after a timeout: stored once, counted once
        exporter.shutdown()
        assert same(_everything(scenario.db), _everything(db)) == [], seed
        assert _no_drift(db) == []
    assert _no_drift(scenario.db) == []


def test_a_late_root_moves_its_trace_to_the_root_session(tmp_path: Path) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    threadline.instrument(tracer_provider=provider, integrations=[])
    tracer = provider.get_tracer("my-web-app")
    with tracer.start_as_current_span("root with its own session") as root:
        root.set_attribute(sc.SESSION_ID, "explicit-root")
        graph_run = Run(name="graph", run_kind=SpanKind.GRAPH, session_hints={"thread_id": "other"})
        child = current_emitter().start(graph_run)
        current_emitter().end(child)
    graph, request = memory.get_finished_spans()

    exporter = SQLiteSpanExporter(tmp_path / "traces.db")
    exporter.export([graph])  # the child arrives alone: its trace is in its own session for now
    assert [s.session_id for s in queries.list_sessions(exporter.path)] == ["other"]
    exporter.export([request])
    exporter.shutdown()
    sessions = queries.list_sessions(exporter.path)
    assert [(s.session_id, s.traces) for s in sessions] == [("explicit-root", 1)]
    assert queries.get_session(exporter.path, "other") is None
    assert _no_drift(exporter.path) == []


def test_a_session_takes_the_environment_of_its_latest_trace_whatever_the_order_they_arrive_in(
    tmp_path: Path,
) -> None:
    from store_kit import synthetic_span

    s = 10**9
    exporter = SQLiteSpanExporter(tmp_path / "traces.db")

    def trace(number: int, start_s: int, environment: str) -> None:
        attributes = {sc.SESSION_ID: "desk", sc.DEPLOYMENT_ENVIRONMENT: environment}
        exporter.export([synthetic_span(number, number, start_ns=start_s * s, attributes=attributes)])

    def environment() -> str | None:
        (session,) = queries.list_sessions(exporter.path)
        return session.environment

    trace(1, 1000, "staging")
    assert environment() == "staging"
    trace(2, 2000, "production")  # after every stored trace: the newest
    assert environment() == "production"
    trace(3, 1500, "canary")  # arrives late but started earlier: not the latest
    assert environment() == "production"
    trace(4, 1999, "eu")  # still earlier than trace 2
    assert environment() == "production"
    trace(5, 3000, "eu")
    assert environment() == "eu"
    exporter.shutdown()
    assert _no_drift(exporter.path) == []
