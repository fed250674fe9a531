"""Captured message lists are stored once per store and read back exactly as captured."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import threadline
from threadline import semconv as sc
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.integration import current_emitter
from threadline.records import ModelCall, Run, SpanKind
from threadline.store import queries

SYSTEM = {"role": "system", "content": "You are Ada, the support agent of Acme Outdoor. Be brief and friendly."}


def _stored_bytes(db: Path) -> int:
    """Bytes of everything the store keeps for spans and their content (rows, not pages)."""
    with sqlite3.connect(db) as conn:
        spans = conn.execute(
            "SELECT sum(coalesce(length(attributes), 0) + coalesce(length(content), 0) + coalesce(length(events), 0)"
            " + 200) FROM spans"
        ).fetchone()[0]
        messages = conn.execute("SELECT coalesce(sum(length(text) + 16 + 8), 0) FROM messages").fetchone()[0]
        cells = conn.execute("SELECT count(*) * 24 FROM message_lists").fetchone()[0]
    return int(spans + messages + cells)


def _conversation(db: Path, turns: int) -> tuple[list[int], InMemorySpanExporter]:
    """A LangGraph-shaped chat: per turn a graph, a node with the state, and a model call with the history."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(SQLiteSpanExporter(db)))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    threadline.instrument(tracer_provider=provider, integrations=[])
    emitter = current_emitter()
    history: list[dict[str, str]] = []
    sizes = []
    for turn in range(1, turns + 1):
        question = {"role": "user", "content": f"Question {turn}: where is my order A-{1000 + turn}, and when?"}
        answer = {"role": "assistant", "content": f"Order A-{1000 + turn} ships on day {turn}; tracking follows."}
        history.append(question)
        with threadline.session("long-chat", user_id="user-1"):
            graph = emitter.start(Run(name="chat", run_kind=SpanKind.GRAPH, inputs={"messages": [question]}))
            node = emitter.start(Run(name="agent", run_kind=SpanKind.NODE, inputs={"messages": history}), parent=graph)
            call = emitter.start(
                ModelCall(name="chat", provider="openai", request_model="gpt-4o-mini", inputs=[SYSTEM, *history]),
                parent=node,
            )
            call.record.outputs = answer
            emitter.end(call)
            node.record.outputs = {"messages": [answer]}
            emitter.end(node)
            graph.record.outputs = {"messages": [*history, answer]}
            emitter.end(graph)
        history.append(answer)
        sizes.append(_stored_bytes(db))
    return sizes, memory


def test_read_back_is_exactly_what_was_captured(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    _, memory = _conversation(db, 6)
    captured = memory.get_finished_spans()
    for span in captured:
        detail = queries.get_trace(db, format(span.context.trace_id, "032x"))
        stored = next(s for s in detail.spans if s.span_id == format(span.context.span_id, "016x"))
        for name in (sc.OI_INPUT_VALUE, sc.OI_OUTPUT_VALUE):
            assert stored.attributes.get(name) == (span.attributes or {}).get(name), (span.name, name)
    with sqlite3.connect(db) as conn:
        split = conn.execute("SELECT count(*) FROM spans WHERE content IS NOT NULL").fetchone()[0]
        attributes = " ".join(r[0] for r in conn.execute("SELECT attributes FROM spans"))
    assert split >= 12  # the history went to the content tables ...
    assert attributes.count("Question 1:") == 0  # ... and not into the spans


def test_a_message_is_stored_once_so_a_turn_costs_its_new_messages(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    sizes, _ = _conversation(db, 100)
    with sqlite3.connect(db) as conn:
        texts = [r[0] for r in conn.execute("SELECT text FROM messages")]
    assert len(texts) == len(set(texts)) == 1 + 2 * 100  # the system prompt and each turn's two messages
    turn_100 = sizes[99] - sizes[98]
    assert turn_100 <= 4096, turn_100
    assert sizes[99] - sizes[49] < 60 * (sizes[9] - sizes[8])  # linear in the turns, not quadratic


def test_content_capture_off_writes_no_content(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(SQLiteSpanExporter(db)))
    threadline.instrument(tracer_provider=provider, integrations=[], capture_content=False)
    emitter = current_emitter()
    call = emitter.start(ModelCall(name="chat", provider="openai", request_model="gpt-4o-mini", inputs=[SYSTEM] * 3))
    emitter.end(call)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
        dump = "\n".join(conn.iterdump())
    assert "Ada, the support agent" not in dump


ODD_VALUES = {
    "odd spacing": '[{"role": "user",   "content": "spaced out"},{"role": "assistant", "content": "still here"}]',
    "cut by the size cap": json.dumps([SYSTEM, SYSTEM, {"role": "user", "content": "x" * 80}])[:-40] + "...[truncated]",
    "a state with more members": json.dumps({"messages": [SYSTEM, SYSTEM], "step": 3, "next": ["tools"]}),
    "a list of strings": json.dumps(["not a message " * 4] * 3),
    "a state whose first member is not a list": json.dumps({"step": 3, "messages": [SYSTEM]}),
    "not JSON at all": "[" + "plain text, " * 10,
}


def test_any_captured_text_reads_back_byte_for_byte(tmp_path: Path) -> None:
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("user")
    with tracer.start_as_current_span("root"):
        for label, value in ODD_VALUES.items():
            with tracer.start_as_current_span(label) as span:
                span.set_attribute(sc.OI_INPUT_VALUE, value)
                span.set_attribute(sc.GEN_AI_OUTPUT_MESSAGES, value[::-1])
    exporter = SQLiteSpanExporter(tmp_path / "traces.db")
    exporter.export(memory.get_finished_spans())
    exporter.shutdown()
    trace_id = format(memory.get_finished_spans()[0].context.trace_id, "032x")
    stored = {s.name: s.attributes for s in queries.get_trace(exporter.path, trace_id).spans}
    for label, value in ODD_VALUES.items():
        assert stored[label][sc.OI_INPUT_VALUE] == value, label
        assert stored[label][sc.GEN_AI_OUTPUT_MESSAGES] == value[::-1], label
    with sqlite3.connect(exporter.path) as conn:
        split = {r[0] for r in conn.execute("SELECT name FROM spans WHERE content IS NOT NULL")}
    assert split == {"odd spacing", "cut by the size cap", "a state with more members"}


def test_the_writers_memory_of_long_messages_is_bounded_and_reading_back_stays_exact(tmp_path: Path) -> None:
    from threadline.store import content, open_store

    conn = open_store(tmp_path / "traces.db", create=True)
    writer = content.ContentWriter()
    texts = [json.dumps({"role": "user", "content": f"{n}: " + "long context " * 20_000}) for n in range(40)]
    ids = []
    for text in texts:  # one long message a transaction, as a RAG app's turns would bring them
        conn.execute("BEGIN IMMEDIATE")
        writer.begin(conn)
        pending = content.split(f"[{text}]")
        assert pending is not None
        writer.prepare(conn, [pending])
        ids.append(writer.list_id(conn, pending[2], pending[4]))
        writer.flush(conn)
        conn.execute("COMMIT")
        assert writer._text_chars <= content.ContentWriter._MAX_TEXT_CHARS + len(text)
    assert sum(map(len, texts)) > 2 * content.ContentWriter._MAX_TEXT_CHARS  # the bound was reached
    for list_id, text in zip(ids, texts, strict=True):
        assert content._text(conn, ["[", ", ", list_id, "]"]) == f"[{text}]"
    conn.close()
