"""Delete, prune, retention, export: rollups and unreferenced content go too, and the space comes back."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from threadline import semconv as sc
from threadline.cli import main
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.store import lifecycle, open_store, queries, rollup_check

sys.path.insert(0, os.path.dirname(__file__))

from store_kit import record_support_sessions, synthetic_span

DAY = 86400 * 10**9
SYSTEM = {"role": "system", "content": "You are Ada, the support agent of Acme Outdoor. Be brief and friendly."}


def _conversation_spans(session: str, trace_base: int, turns: int, start_ns: int) -> list:
    """Turns of one chat session, each a root and a model call carrying the growing history."""
    spans = []
    history = []
    for turn in range(turns):
        history.append({"role": "user", "content": f"{session}: question {turn}, please answer at length."})
        trace = trace_base + turn
        at = start_ns + turn * 10**9
        attrs = {sc.SESSION_ID: session, sc.USER_ID: "u-1", sc.SPAN_KIND: "graph"}
        model_attrs = {**attrs, sc.SPAN_KIND: "model", sc.OI_INPUT_VALUE: json.dumps([SYSTEM, *history])}
        model_attrs |= {sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", sc.GEN_AI_USAGE_INPUT_TOKENS: 10 * (turn + 1)}
        spans.append(synthetic_span(trace, 1, start_ns=at, name="chat", attributes=attrs))
        spans.append(synthetic_span(trace, 2, parent_id=1, start_ns=at + 1000, name="model", attributes=model_attrs))
        history.append({"role": "assistant", "content": f"{session}: answer {turn}, at length as asked."})
    return spans


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _consistent(db: Path) -> bool:
    conn = open_store(db, create=False)
    try:
        return rollup_check.differences(conn) == []
    finally:
        conn.close()


@pytest.fixture
def two_chats(tmp_path: Path) -> Path:
    db = tmp_path / "traces.db"
    now = time.time_ns()
    exporter = SQLiteSpanExporter(db)
    exporter.export(_conversation_spans("old-chat", 1000, 20, now - 40 * DAY))
    exporter.export(_conversation_spans("new-chat", 2000, 5, now - DAY))
    exporter.export([synthetic_span(3000, 1, start_ns=now - 50 * DAY, name="sessionless")])
    exporter.shutdown()
    return db


def test_export_then_delete_a_session(two_chats: Path, tmp_path: Path) -> None:
    out = tmp_path / "old-chat.jsonl"
    assert main(["export", "session", "old-chat", "--db", str(two_chats), "-o", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 40
    model = [r for r in lines if r["name"] == "model"][-1]
    assert json.loads(model["attributes"][sc.OI_INPUT_VALUE])[-1]["content"].startswith("old-chat: question 19")

    messages_before = _count(two_chats, "messages")
    assert main(["delete", "session", "old-chat", "--db", str(two_chats)]) == 0
    assert [s.session_id for s in queries.list_sessions(two_chats)] == ["new-chat"]
    assert _count(two_chats, "spans") == 10 + 1
    # The deleted chat's messages are gone; the system prompt, shared with new-chat, stays.
    assert _count(two_chats, "messages") == messages_before - (20 + 19)  # its questions and answers
    assert _consistent(two_chats)
    detail = queries.get_trace(two_chats, format(2004, "032x"))
    assert json.loads(detail.spans[1].attributes[sc.OI_INPUT_VALUE])[0] == SYSTEM


def test_delete_a_trace_recomputes_its_session(two_chats: Path) -> None:
    before = {s.session_id: s for s in queries.list_sessions(two_chats)}["new-chat"]
    assert main(["delete", "trace", format(2004, "032x"), "--db", str(two_chats)]) == 0
    after = {s.session_id: s for s in queries.list_sessions(two_chats)}["new-chat"]
    assert (before.traces, after.traces) == (5, 4)
    assert before.input_tokens - after.input_tokens == 50
    assert _consistent(two_chats)


def test_prune_older_than_and_keep_sessions(two_chats: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prune", "--older-than", "30d", "--db", str(two_chats)]) == 0
    assert "Deleted 1 session, 21 traces and 41 spans" in capsys.readouterr().out
    assert [s.session_id for s in queries.list_sessions(two_chats)] == ["new-chat"]
    assert queries.list_traces(two_chats, limit=None)[-1].session_id == "new-chat"  # the old sessionless one too
    assert _consistent(two_chats)
    assert main(["prune", "--keep-sessions", "0", "--db", str(two_chats)]) == 0
    assert _count(two_chats, "spans") == _count(two_chats, "messages") == _count(two_chats, "message_lists") == 0


def test_pruning_gives_the_space_back(two_chats: Path) -> None:
    exporter = SQLiteSpanExporter(two_chats)
    exporter.export(_conversation_spans("big-chat", 5000, 200, time.time_ns() - 60 * DAY))
    exporter.shutdown()
    with sqlite3.connect(two_chats) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    before = two_chats.stat().st_size
    lifecycle.prune(two_chats, older_than="30d")
    after = two_chats.stat().st_size
    assert after < before / 2, (before, after)
    with sqlite3.connect(two_chats) as conn:
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_retention_prunes_in_the_background(two_chats: Path) -> None:
    exporter = SQLiteSpanExporter(two_chats, retention="30d")
    exporter.export([synthetic_span(4000, 1, start_ns=time.time_ns(), name="fresh")])
    exporter._retention.wait(60)
    exporter.shutdown()
    assert [s.session_id for s in queries.list_sessions(two_chats)] == ["new-chat"]


def test_retention_setting_is_checked_up_front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_RETENTION", "a while")
    with pytest.raises(ValueError, match="cannot read the duration 'a while'"):
        SQLiteSpanExporter(tmp_path / "traces.db")


def test_cli_says_what_is_missing(two_chats: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prune", "--db", str(two_chats)]) == 1
    assert "--older-than" in capsys.readouterr().err
    assert main(["delete", "session", "nope", "--db", str(two_chats)]) == 1
    assert "no session 'nope'" in capsys.readouterr().err
    assert main(["export", "session", "nope", "--db", str(two_chats)]) == 1


def test_delete_a_session_of_the_scenario_keeps_the_other(tmp_path: Path) -> None:
    scenario = record_support_sessions(tmp_path / "traces.db")
    lifecycle.delete_session(scenario.db, "chat-1")
    assert [s.session_id for s in queries.list_sessions(scenario.db)] == ["chat-2"]
    assert len(queries.list_traces(scenario.db, limit=None)) == 2  # chat-2's and the one without a session
    assert _consistent(scenario.db)


def test_instrument_retention_prunes_the_default_store(two_chats: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threadline

    monkeypatch.setenv("THREADLINE_DB", str(two_chats))
    threadline.instrument(integrations=[], retention="30d")

    @threadline.observe(name="fresh")
    def fresh() -> int:
        return 1

    fresh()
    assert threadline.flush(30)
    deadline = time.monotonic() + 60  # the prune runs on its own thread after the first export
    while time.monotonic() < deadline and "old-chat" in {s.session_id for s in queries.list_sessions(two_chats)}:
        time.sleep(0.05)
    threadline.shutdown()
    assert [s.session_id for s in queries.list_sessions(two_chats)] == ["new-chat"]


def test_export_escapes_terminal_controls_and_keeps_the_data(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    hostile = "\x1b]52;c;cGF3bmVk\x07 \u202e evil \x9b31m"
    exporter = SQLiteSpanExporter(db)
    attrs = {sc.SESSION_ID: "chat-x", sc.OI_INPUT_VALUE: hostile}
    exporter.export([synthetic_span(7, 1, start_ns=time.time_ns(), name="turn", attributes=attrs)])
    exporter.shutdown()
    out = tmp_path / "chat-x.jsonl"
    assert main(["export", "session", "chat-x", "--db", str(db), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert not any(c in text for c in ("\x1b", "\x07", "\u202e", "\x9b"))
    assert json.loads(text)["attributes"][sc.OI_INPUT_VALUE] == hostile
