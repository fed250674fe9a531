"""Exporter faults never reach the application: raising, failing, hung and unreachable exporters.

Each test runs the real pipeline (``threadline.instrument(exporter=...)``,
batch processor on its own thread) with real instrumented calls, and checks
the user's results, that the lost spans are counted exactly, and that the
loss is logged once.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import threadline
from threadline import _runtime
from threadline.exporters import _safe
from threadline.exporters.otlp import otlp_exporter

LOST = "could not be exported"
REPLY = "Hello! How can I assist you today?"


class RaisingExporter(SpanExporter):
    """Raises on every export, flush and shutdown."""

    def __init__(self) -> None:
        self.offered = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.offered += len(spans)
        raise ConnectionError("backend unreachable")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        raise ConnectionError("backend unreachable")

    def shutdown(self) -> None:
        raise ConnectionError("backend unreachable")


class FailingExporter(SpanExporter):
    """Returns FAILURE for every batch (as OTLP does when the collector rejects it)."""

    def __init__(self) -> None:
        self.offered = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.offered += len(spans)
        return SpanExportResult.FAILURE


class HungExporter(SpanExporter):
    """Blocks in ``export`` until released (a backend that never answers); ``entered`` is set on the first export."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.batches: list[int] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.batches.append(len(spans))
        self.entered.set()
        self.release.wait()
        return SpanExportResult.SUCCESS


@pytest.fixture
def hung() -> Iterator[HungExporter]:
    exporter = HungExporter()
    yield exporter
    exporter.release.set()  # let the batch thread finish once the test is done


@threadline.observe(name="handle-turn")
def handle_turn(client: Any, question: str) -> str:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}], stream=True
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return f"{completion.choices[0].message.content}|{streamed}"


def _lost_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "threadline" and LOST in r.getMessage()]


def _otel_export_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "Exception while exporting" in r.getMessage()]


@pytest.mark.parametrize("exporter_cls", [RaisingExporter, FailingExporter])
def test_a_broken_exporter_loses_spans_counted_and_logged_once(
    exporter_cls: type, backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    exporter = exporter_cls()
    dropped_before = _safe.dropped_spans()
    threadline.instrument(exporter=exporter, integrations=["openai"])
    client, _ = backend.clients()

    for turn in range(3):  # three flushes: three failed batches
        assert handle_turn(client, f"question {turn}") == f"{REPLY}|{REPLY}"
        threadline.flush(10)

    assert exporter.offered == 9  # handle-turn, the completion and the stream, three times
    assert _safe.dropped_spans(exporter) == 9
    assert _safe.dropped_spans() - dropped_before >= 9  # the process-wide count includes them
    assert len(_lost_logs(caplog)) == 1, [r.getMessage() for r in _lost_logs(caplog)]
    assert _otel_export_errors(caplog) == []  # the failure never reached the SDK's batch thread
    threadline.shutdown(5)  # a shutdown that raises is logged, not raised


def test_a_hung_exporter_blocks_neither_the_app_nor_flush_nor_shutdown(
    hung: HungExporter, monkeypatch: pytest.MonkeyPatch, backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    # A small queue so that it fills; the batch thread wakes at BATCH spans and never comes back.
    queue_size, batch = 64, 8
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", str(queue_size))
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", str(batch))
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    threadline.instrument(exporter=hung, integrations=["openai"])
    client, _ = backend.clients()
    processors = _runtime.state.provider._active_span_processor._span_processors
    (processor,) = [p for p in processors if isinstance(p, _safe.CountingBatchSpanProcessor)]
    sdk_queue = processor._batch_processor  # the configuration the pipeline really runs with
    assert (sdk_queue._queue.maxlen, sdk_queue._max_export_batch_size) == (queue_size, batch)

    @threadline.observe(name="step")
    def step(i: int) -> int:
        return i * 2

    results: list[Any] = []

    def first_batch() -> None:
        results.extend(step(i) for i in range(batch))

    def the_rest() -> None:
        results.extend(step(i) for i in range(batch, 196))
        results.append(handle_turn(client, "still answering?"))  # 3 more spans: 199 in all

    # The batch thread takes the first BATCH spans into the export that hangs before the rest
    # arrive (waited for as an event, not a time): from then on the queue only fills, so what is
    # dropped is exact, however slowly the batch thread was scheduled.
    for part in (first_batch, the_rest):
        worker = threading.Thread(target=part, daemon=True)
        worker.start()
        worker.join(60)  # generous: the work itself takes milliseconds
        assert not worker.is_alive(), "the application was blocked by a hung exporter"
        if part is first_batch:
            assert hung.entered.wait(60), "the batch thread never started its export"
    assert results[:196] == [i * 2 for i in range(196)]
    assert results[196] == f"{REPLY}|{REPLY}"

    assert hung.batches == [batch]  # the batch thread is stuck in its first export
    # 199 spans: BATCH in the stuck export, a full queue, every other one counted as dropped.
    assert _safe.dropped_spans(hung) == 199 - batch - queue_size
    assert len(sdk_queue._queue) == queue_size
    assert len(_lost_logs(caplog)) == 1
    # OpenTelemetry's own "Queue full, dropping span." is not repeated for each of the 127 drops.
    assert [r.getMessage() for r in caplog.records if "queue full" in r.getMessage().lower()] == []

    outcome: dict[str, Any] = {}

    def flush_then_shutdown() -> None:
        outcome["flushed"] = threadline.flush(timeout=0.5)
        threadline.shutdown(timeout=0.5)
        outcome["shut down"] = True

    closer = threading.Thread(target=flush_then_shutdown, daemon=True)
    closer.start()
    closer.join(60)
    assert not closer.is_alive(), "flush() or shutdown() did not return within its timeout"
    assert outcome == {"flushed": False, "shut down": True}


def test_process_exit_is_not_held_by_a_hung_exporter(tmp_path: Any) -> None:
    script = textwrap.dedent(
        """
        import threading
        import threadline
        from threadline import _runtime
        from opentelemetry.sdk.trace.export import SpanExporter

        class Hung(SpanExporter):
            def export(self, spans):
                threading.Event().wait()

        _runtime.EXIT_TIMEOUT_S = 0.5
        threadline.instrument(exporter=Hung(), integrations=[])
        for i in range(600):  # past one batch: the batch thread is stuck in export when the app exits
            threadline.observe(name="work")(lambda: i)()
        print("done", flush=True)
        """
    )
    env = {**os.environ, "THREADLINE_DB": str(tmp_path / "t.db")}
    env.pop("PYTEST_CURRENT_TEST", None)
    # Without a bounded exit this process never ends (the SDK's flush waits for the export forever).
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_otlp_endpoint_is_counted_and_logged_once(
    backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    port = _closed_port()  # nothing listens there: every connection is refused
    exporter = otlp_exporter(f"http://127.0.0.1:{port}", timeout=1)
    threadline.instrument(exporter=exporter, integrations=["openai"])
    client, _ = backend.clients()

    answers = [handle_turn(client, f"question {turn}") for turn in range(2)]
    threadline.flush(30)

    assert answers == [f"{REPLY}|{REPLY}"] * 2
    assert _safe.dropped_spans(exporter) == 6
    assert len(_lost_logs(caplog)) == 1
    threadline.shutdown(10)
