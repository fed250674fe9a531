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
