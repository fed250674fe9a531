"""The exporter's batch shortcuts keep what a user reads: shared histories, search within each session."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import threadline
from threadline import semconv as sc
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.store import queries, search

sys.path.insert(0, os.path.dirname(__file__))

from store_kit import conversation  # noqa: E402


def test_two_sessions_with_the_same_history_are_each_searchable(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[])
    first = conversation("desk-a", 4)
    threadline.flush()
    second = conversation("desk-b", 4)  # word for word the same messages, in another session
    threadline.flush()
    threadline.shutdown()

    for session_id, traces in (("desk-a", first), ("desk-b", second)):
        # Each session's history is indexed in that session, where it was first said.
        assert [h.trace_id for h in search.search(db, "paddle0", session_id=session_id)] == [traces[0]]
        assert [h.trace_id for h in search.search(db, "paddle3", session_id=session_id)] == [traces[3]]
        assert len(search.search(db, "rental", session_id=session_id)) == 1  # the system prompt, once
    assert {h.trace_id for h in search.search(db, "paddle2")} == {first[2], second[2]}

    with sqlite3.connect(db) as conn:
        (messages,) = conn.execute("SELECT count(*) FROM messages").fetchone()
    assert messages == 1 + 4 * 2  # the system prompt and each turn's two messages, stored once for both sessions


def test_a_batch_that_repeats_new_messages_reads_back_exactly(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[])
    traces = conversation("desk-c", 6)  # one batch: each turn repeats the turns before it
    threadline.shutdown()

    replay = queries.get_session(db, "desk-c")
    assert replay is not None and [t.trace_id for t in replay.turns] == traces
    last = queries.get_trace(db, traces[-1])
    assert last is not None
    model = next(s for s in last.spans if s.kind == "model")
    expected = [{"role": "system", "content": "You are the kayak rental desk."}]
    for turn in range(6):
        expected.append({"role": "user", "content": f"turn {turn}: is paddle{turn} available?"})
        if turn < 5:
            expected.append({"role": "assistant", "content": f"yes, paddle{turn} is ready"})
    assert json.loads(model.attributes[sc.OI_INPUT_VALUE]) == expected  # the whole history, in order


def test_a_batch_of_512_spans_is_written_in_a_few_statements(tmp_path: Path) -> None:
    """Each statement gives the GIL away; beside a busy application the export thread waits to get it
    back, so a batch must be a few statements (not one per row, span or session) to keep up."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    threadline.instrument(exporter=memory, integrations=[])
    for desk in range(8):
        conversation(f"desk-{desk}", 32)  # a graph span and a model span a turn
    threadline.shutdown()
    spans = memory.get_finished_spans()
    assert len(spans) == 512

    db = tmp_path / "traces.db"
    exporter = SQLiteSpanExporter(db)
    statements: list[str] = []
    # SQLite also traces the statements a statement runs inside itself (FTS5's, as "-- ..."): not counted.
    exporter._connection().set_trace_callback(lambda sql: sql.startswith("--") or statements.append(sql))
    assert exporter.export(spans).name == "SUCCESS"
    exporter.shutdown()

    # 18 today; 62 when each new session took five of its own and rows went 64 to a statement.
    assert len(statements) <= 24, [s[:60] for s in statements]
    sessions = queries.list_sessions(db, limit=20)
    assert sorted(s.session_id for s in sessions) == [f"desk-{d}" for d in range(8)]
    assert all(s.traces == 32 for s in sessions)


def test_rows_go_in_few_statements_under_the_parameter_limit() -> None:
    from threadline.store.batched import PARAMETERS_PER_STATEMENT, in_lists, parts, value_rows

    spans = [tuple(range(32))] * 1200  # 32 parameters a row: 256 rows a statement
    assert [len(p) for p in parts(spans)] == [256] * 4 + [176]
    rows = [(i, i, i) for i in range(5000)]  # 3 parameters a row: 2730 rows a statement
    assert [len(p) for p in parts(rows)] == [2730, 2270]
    assert [row for p in parts(rows) for row in p] == rows  # every row once, in order
    assert all(len(p) * 32 <= PARAMETERS_PER_STATEMENT for p in parts(spans))
    assert list(parts([])) == []
    lists = list(in_lists(list(range(1100))))
    assert [len(c) for _, c in lists] == [500, 500, 100]
    assert [marks.count("?") for marks, _ in lists] == [500, 500, 100]
    assert [v for _, c in lists for v in c] == list(range(1100))
    assert value_rows(3, 2) == "(?, ?, ?), (?, ?, ?)"
