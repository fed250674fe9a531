"""The JSONL and console exporters, fed real spans from the emitter."""

from __future__ import annotations

import io
import json
import logging
import threading
from pathlib import Path

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

import threadline
from threadline import semconv as sc
from threadline.exporters import ConsoleSpanExporter, JSONLSpanExporter
from threadline.integration import current_emitter
from threadline.records import ModelCall, Run, SpanKind, ToolCall
from threadline.testing import CapturedSpans
from threadline.usage import Usage

USAGE = Usage(input_tokens=1500, output_tokens=200, cache_read_tokens=1024, reasoning_tokens=64)


def _expected_cost() -> float:
    price = calc_price(
        PriceUsage(input_tokens=1500, output_tokens=200, cache_read_tokens=1024), "gpt-4o-mini", provider_id="openai"
    )
    return float(price.total_price)


def _turn(session_id: str = "chat-1", *, fail_tool: bool = True) -> None:
    """One trace: an observed turn with a model call and a (failing) tool call."""
    emitter = current_emitter()
    with threadline.session(session_id, user_id="user-1"):
        root = emitter.start(Run(name="handle-turn", run_kind=SpanKind.OBSERVE, inputs="hi"))
        call = emitter.start(
            ModelCall(name="chat", provider="openai", request_model="gpt-4o-mini", inputs="hi"), parent=root
        )
        call.record.usage = USAGE
        call.record.outputs = "hello"
        emitter.end(call)
        tool = emitter.start(ToolCall(name="search", inputs={"q": "x"}), parent=root)
        emitter.end(tool, error=ValueError("boom") if fail_tool else None)
        root.record.outputs = "done"
        emitter.end(root)


def _trace_spans(spans: CapturedSpans, **kwargs: object) -> list[ReadableSpan]:
    spans.clear()
    _turn(**kwargs)  # type: ignore[arg-type]
    return spans.finished()


# --- JSONL ---------------------------------------------------------------------


def test_jsonl_through_instrument_writes_one_object_per_span(tmp_path: Path) -> None:
    path = tmp_path / "out" / "spans.jsonl"
    threadline.instrument(exporter=JSONLSpanExporter(path), integrations=[])
    _turn()
    assert threadline.flush(5)

    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    rows = {row["name"]: row for row in map(json.loads, lines)}
    assert set(rows) == {"handle-turn", "chat gpt-4o-mini", "execute_tool search"}
    root, model, tool = rows["handle-turn"], rows["chat gpt-4o-mini"], rows["execute_tool search"]

    assert root["parent_span_id"] is None
    assert model["parent_span_id"] == root["span_id"] and tool["parent_span_id"] == root["span_id"]
    assert len({r["trace_id"] for r in rows.values()}) == 1
    assert len(root["trace_id"]) == 32 and len(root["span_id"]) == 16
    for row in rows.values():
        assert row["attributes"][sc.SESSION_ID] == "chat-1"
        assert row["attributes"][sc.USER_ID] == "user-1"
        assert row["end_time_unix_nano"] >= row["start_time_unix_nano"]
        assert row["duration_ms"] >= 0

    assert model["kind"] == "CLIENT"
    assert model["attributes"][sc.GEN_AI_USAGE_INPUT_TOKENS] == 1500
    assert model["attributes"][sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1024
    assert model["attributes"][sc.GEN_AI_USAGE_COST] == pytest.approx(_expected_cost(), abs=1e-12)
    assert tool["status"]["code"] == "ERROR"
    assert tool["attributes"][sc.ERROR_TYPE] == "ValueError"
    assert [e["name"] for e in tool["events"]] == ["exception"]
    assert root["status"]["code"] == "UNSET"
    assert root["scope"]["name"] == "threadline"


def test_jsonl_appends_and_keeps_lists_as_json_arrays(tmp_path: Path, spans: CapturedSpans) -> None:
    path = tmp_path / "spans.jsonl"
    exporter = JSONLSpanExporter(path)
    batch = _trace_spans(spans)
    assert exporter.export(batch) is SpanExportResult.SUCCESS
    assert exporter.export(batch) is SpanExportResult.SUCCESS
    exporter.shutdown()
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6
    tool = next(r for r in rows if r["name"] == "execute_tool search")
    assert tool["events"][0]["attributes"]["exception.type"] == "ValueError"
    # A sequence attribute comes back as a list, not a stringified tuple; a new exporter appends.
    exporter2 = JSONLSpanExporter(path)
    spans.clear()
    with threadline.session("chat-2", tags=["a", "b"]):
        em = current_emitter()
        em.end(em.start(Run(name="tagged")))
    exporter2.export(spans.finished())
    last = json.loads(path.read_text(encoding="utf-8").splitlines()[-1])
    assert last["attributes"][sc.TAGS] == ["a", "b"]


def test_jsonl_is_safe_across_threads(tmp_path: Path, spans: CapturedSpans) -> None:
    path = tmp_path / "spans.jsonl"
    exporter = JSONLSpanExporter(path)
    batch = _trace_spans(spans)
    # Big values make each line long enough that interleaved writes would show.
    big = [s for s in batch if s.name == "handle-turn"] * 50
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(20):
            assert exporter.export(big) is SpanExportResult.SUCCESS

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    exporter.shutdown()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8 * 20 * 50
    assert all(json.loads(line)["name"] == "handle-turn" for line in lines)


def test_jsonl_failures_are_reported_not_raised(
    tmp_path: Path, spans: CapturedSpans, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    exporter = JSONLSpanExporter(blocker / "spans.jsonl")
    batch = _trace_spans(spans)
    with caplog.at_level(logging.WARNING, logger="threadline"):
        assert exporter.export(batch) is SpanExportResult.FAILURE
    assert "could not write spans" in caplog.text

    ok = JSONLSpanExporter(tmp_path / "ok.jsonl")
    ok.shutdown()
    assert ok.export(batch) is SpanExportResult.FAILURE
    assert ok.export([]) is SpanExportResult.SUCCESS


# --- console ---------------------------------------------------------------------


def test_console_prints_a_tree_with_tokens_and_cost(spans: CapturedSpans) -> None:
    out = io.StringIO()
    exporter = ConsoleSpanExporter(out)
    assert exporter.export(_trace_spans(spans)) is SpanExportResult.SUCCESS
    text = out.getvalue()
    lines = text.splitlines()
    cost = f"${_expected_cost():.6f}"

    header = lines[0]
    assert header.startswith("trace ")
    assert "session chat-1" in header and "user user-1" in header
    assert "3 spans" in header and "1 model call" in header
    assert "in 1500" in header and "out 200" in header and cost in header

    assert lines[1].startswith("└─ handle-turn  observe")
    assert lines[2].startswith("   ├─ chat gpt-4o-mini  model")
    assert "in 1500 (cached 1024)" in lines[2] and "out 200 (reasoning 64)" in lines[2] and cost in lines[2]
    assert lines[3].startswith("   └─ execute_tool search  tool")
    assert "ERROR ValueError: boom" in lines[3]
    assert len(lines) == 4


def test_console_waits_for_the_root_span(spans: CapturedSpans) -> None:
    out = io.StringIO()
    exporter = ConsoleSpanExporter(out)
    batch = _trace_spans(spans)
    children = [s for s in batch if s.parent is not None]
    root = [s for s in batch if s.parent is None]
    exporter.export(children)
    assert out.getvalue() == ""
    exporter.export(root)
    assert out.getvalue().count("trace ") == 1
    assert "handle-turn" in out.getvalue() and "execute_tool search" in out.getvalue()


def test_console_buffer_is_bounded_and_counts_drops(spans: CapturedSpans) -> None:
    out = io.StringIO()
    exporter = ConsoleSpanExporter(out, max_buffered_spans=4)
    children_of_each_trace = []
    for i in range(3):
        batch = _trace_spans(spans, session_id=f"chat-{i}")
        children_of_each_trace.append([s for s in batch if s.parent is not None])
    for children in children_of_each_trace:  # 2 spans each, no root: 6 > 4
        exporter.export(children)
    assert exporter.dropped_spans == 2
    assert out.getvalue() == ""
    exporter.shutdown()
    text = out.getvalue()
    # The two newest traces are printed, marked partial; the oldest was dropped.
    assert text.count("· partial ·") == 2
    assert "session chat-0" not in text and "session chat-1" in text and "session chat-2" in text
    assert exporter.export(children_of_each_trace[0]) is SpanExportResult.FAILURE


def test_console_through_instrument_defaults_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    threadline.instrument(exporter=ConsoleSpanExporter(), integrations=[])
    _turn(fail_tool=False)
    assert threadline.flush(5)
    err = capsys.readouterr().err
    assert "└─ handle-turn  observe" in err
    assert "execute_tool search  tool" in err and "ERROR" not in err


def test_exporters_package_exports_lazily() -> None:
    import threadline.exporters as exporters

    assert exporters.JSONLSpanExporter is JSONLSpanExporter
    assert callable(exporters.otlp_exporter)
    with pytest.raises(AttributeError):
        exporters.NoSuchExporter  # noqa: B018
