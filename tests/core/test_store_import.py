"""``threadline import``: a session exported, deleted and imported again is the same session."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from threadline.cli import main
from threadline.exporters.archive import import_lines
from threadline.store import lifecycle, open_store, queries, rollup_check, search

sys.path.insert(0, os.path.dirname(__file__))

from store_kit import record_support_sessions

_TRACES_SQL = "SELECT * FROM traces WHERE session_id = ? ORDER BY trace_id"
_SESSION_SQL = "SELECT * FROM sessions WHERE session_id = ?"
_MODELS_SQL = "SELECT * FROM session_models WHERE session_id = ? ORDER BY model"


def _exported(db: Path, session_id: str, tmp_path: Path, name: str) -> tuple[Path, list[dict]]:
    out = tmp_path / name
    assert main(["export", "session", session_id, "--db", str(db), "-o", str(out)]) == 0
    with open(out, encoding="utf-8") as f:
        return out, [json.loads(line) for line in f]


def _rollups(db: Path, session_id: str) -> tuple[list, ...]:
    """The session's trace, session and per-model rollup rows, costs to 1e-12 USD (sums in another order)."""
    with sqlite3.connect(db) as conn:
        return tuple(
            [
                tuple(round(v, 12) if isinstance(v, float) else v for v in row)
                for row in conn.execute(sql, (session_id,))
            ]
            for sql in (_TRACES_SQL, _SESSION_SQL, _MODELS_SQL)
        )


def _rounded(value: Any) -> Any:
    """``value`` (dataclasses, containers) with every float rounded to 1e-12."""
    if dataclasses.is_dataclass(value):
        return _rounded(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return round(value, 12) if isinstance(value, float) else value


def _consistent(db: Path) -> list:
    conn = open_store(db, create=False)
    try:
        return rollup_check.differences(conn)
    finally:
        conn.close()


def _round_trip(db: Path, session_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Export, delete and import ``session_id``; everything a user reads of it must come back the same."""
    exported, before = _exported(db, session_id, tmp_path, "before.jsonl")
    rollups = _rollups(db, session_id)
    replay = _rounded(queries.get_session(db, session_id))
    assert before and rollups[1], "the session is in the store to begin with"

    assert lifecycle.delete_session(db, session_id).spans == len(before)
    assert queries.get_session(db, session_id) is None
    capsys.readouterr()

    assert main(["import", str(exported), "--db", str(db)]) == 0
    spans = f"{len(before)} span" + ("s" if len(before) != 1 else "")
    assert f"Imported {spans} into {db}." in capsys.readouterr().out

    _, after = _exported(db, session_id, tmp_path, "after.jsonl")
    assert after == before  # every span: ids, times, status, attributes with captured content, events, links
    assert _rollups(db, session_id) == rollups  # trace and session rollups, usage by model, to the cent
    assert _rounded(queries.get_session(db, session_id)) == replay  # the summary and the turn-by-turn replay
    assert _consistent(db) == []


def test_a_deleted_session_comes_back_from_its_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = record_support_sessions(tmp_path / "traces.db")
    hits = {h.trace_id for h in search.search(scenario.db, "refund", session_id="chat-1")}
    assert hits, "the paused turn's text is searchable to begin with"
    _round_trip(scenario.db, "chat-1", tmp_path, capsys)
    # The search index is rebuilt from the imported spans.
    assert {h.trace_id for h in search.search(scenario.db, "refund", session_id="chat-1")} == hits


def test_a_langgraph_session_with_an_interrupt_comes_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db)]) == 0  # a real StateGraph with a checkpointer, paused and resumed
    sessions = [s for s in queries.list_sessions(db) if s.interrupted]
    assert sessions, "the demo pauses for a human"
    _round_trip(db, sessions[0].session_id, tmp_path, capsys)


def test_importing_twice_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = record_support_sessions(tmp_path / "traces.db")
    exported, spans = _exported(scenario.db, "chat-1", tmp_path, "chat-1.jsonl")
    rollups = _rollups(scenario.db, "chat-1")
    capsys.readouterr()
    assert main(["import", str(exported), "--db", str(scenario.db)]) == 0
    out = capsys.readouterr().out
    assert f"Imported 0 spans into {scenario.db} ({len(spans)} already there, kept as they were)." in out
    assert _rollups(scenario.db, "chat-1") == rollups
    assert _consistent(scenario.db) == []


def test_import_into_a_new_store(tmp_path: Path) -> None:
    scenario = record_support_sessions(tmp_path / "traces.db")
    exported, spans = _exported(scenario.db, "chat-2", tmp_path, "chat-2.jsonl")
    fresh = tmp_path / "archive" / "kept.db"
    with open(exported, encoding="utf-8") as lines:
        result = import_lines(fresh, lines)
    assert (result.spans, result.added, result.skipped) == (len(spans), len(spans), 0)
    assert [s.session_id for s in queries.list_sessions(fresh)] == ["chat-2"]
    assert _exported(fresh, "chat-2", tmp_path, "again.jsonl")[1] == spans


def test_lines_that_are_not_spans_are_skipped_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = record_support_sessions(tmp_path / "traces.db")
    _, spans = _exported(scenario.db, "chat-2", tmp_path, "chat-2.jsonl")
    lifecycle.delete_session(scenario.db, "chat-2")
    bad = [
        "not json at all",
        json.dumps(["a", "list"]),
        json.dumps({**spans[0], "trace_id": "xyz"}),
        json.dumps({**spans[0], "span_id": "0" * 16}),
        json.dumps({**spans[0], "start_ns": "yesterday"}),
        json.dumps({**spans[0], "attributes": "not an object"}),
        "",
    ]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join([json.dumps(s) for s in spans] + bad) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["import", str(mixed), "--db", str(scenario.db)]) == 0
    out, err = capsys.readouterr()
    assert f"Imported {len(spans)} spans into {scenario.db}; 6 lines skipped (not exported spans or scores)." in out
    first = len(spans) + 1
    assert f"mixed.jsonl: skipped line {first}: not JSON" in err
    assert f"line {first + 1}: not a JSON object" in err
    assert f"line {first + 2}: trace_id is not 32 hex digits" in err
    assert f"line {first + 3}: span_id is not 16 hex digits" in err
    assert f"line {first + 4}: start_ns is not a time in nanoseconds" in err
    assert "skipped 1 more line" in err  # the sixth is counted, not named
    assert "Traceback" not in out + err
    assert sorted(s.session_id for s in queries.list_sessions(scenario.db)) == ["chat-1", "chat-2"]


def test_a_file_with_no_spans_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello\n", encoding="utf-8")
    assert main(["import", str(junk), "--db", str(tmp_path / "t.db")]) == 1
    out, err = capsys.readouterr()
    assert "1 line skipped (not exported spans or scores)" in out and "line 1: not JSON" in err
    assert main(["import", str(tmp_path / "missing.jsonl"), "--db", str(tmp_path / "t.db")]) == 1
    assert "could not import" in capsys.readouterr().err


def test_what_the_span_row_keeps_outside_its_attributes_comes_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Service, environment (from the resource), OpenTelemetry kind, scope, an error's message, links."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

    from threadline import semconv as sc
    from threadline.exporters.sqlite import SQLiteSpanExporter

    db = tmp_path / "traces.db"
    resource = Resource({"service.name": "shop", sc.DEPLOYMENT_ENVIRONMENT: "staging"})
    start = 1_700_000_000_000_000_000
    root = SpanContext(0xAB, 0x1, is_remote=False)
    span = ReadableSpan(
        name="checkout",
        context=root,
        resource=resource,
        attributes={sc.SESSION_ID: "cart-9", sc.SPAN_KIND: "tool", "tags": ("a", "b")},
        kind=SpanKind.CLIENT,
        status=Status(StatusCode.ERROR, "card declined"),
        links=[Link(SpanContext(0xCD, 0x2, is_remote=False), {"why": "retry of"})],
        start_time=start,
        end_time=start + 5_000_000,
        instrumentation_scope=InstrumentationScope("shop.checkout"),
    )
    exporter = SQLiteSpanExporter(db)
    exporter.export([span])
    exporter.shutdown()
    columns = "service_name, environment, span_kind, scope_name, status_code, status_message, links, attributes"
    with sqlite3.connect(db) as conn:
        row = conn.execute(f"SELECT {columns} FROM spans").fetchone()
    assert row[:6] == ("shop", "staging", "CLIENT", "shop.checkout", "ERROR", "card declined")
    _round_trip(db, "cart-9", tmp_path, capsys)
    with sqlite3.connect(db) as conn:
        assert conn.execute(f"SELECT {columns} FROM spans").fetchone() == row
        assert conn.execute("SELECT environment FROM sessions").fetchone() == ("staging",)


def test_scores_go_with_the_session_and_come_back_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from threadline.store.scores import add_score, scores_for

    scenario = record_support_sessions(tmp_path / "traces.db")
    db, trace_id = scenario.db, queries.get_session(scenario.db, "chat-2").turns[0].trace_id
    add_score(db, "helpful", True, session_id="chat-2", comment="solved it", source="annotation", author="ana")
    add_score(db, "verdict", "good", trace_id=trace_id, source="eval", created_at=1_700_000_000.125)
    add_score(db, "accuracy", 0.8, trace_id=trace_id)
    with open_store(db, create=False) as conn:
        before = [scores_for(conn, "session", "chat-2"), scores_for(conn, "trace", trace_id)]
    capsys.readouterr()
    out = tmp_path / "chat-2.jsonl"
    assert main(["export", "session", "chat-2", "--db", str(db), "-o", str(out)]) == 0
    assert "and 3 scores of session chat-2" in capsys.readouterr().out
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["score"]["name"] for r in records if "score" in r] == ["helpful", "verdict", "accuracy"]

    lifecycle.delete_session(db, "chat-2")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM scores").fetchone() == (0,)
    for _ in range(2):  # the second import finds every span and score already there
        assert main(["import", str(out), "--db", str(db)]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert "and 3 scores into" in first and "score" not in second.replace(str(db), "")

    def fields(scores: list) -> list:
        return [dataclasses.replace(s, id=0) for s in scores]  # ids are the store's own

    with open_store(db, create=False) as conn:
        after = [scores_for(conn, "session", "chat-2"), scores_for(conn, "trace", trace_id)]
    assert [fields(s) for s in after] == [fields(s) for s in before]


def test_a_score_that_cannot_go_back_is_skipped_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = record_support_sessions(tmp_path / "traces.db")
    good = {"target_kind": "session", "target_id": "chat-1", "name": "ok", "value": 1.0, "source": "code"}
    lines = [
        {"score": {**good, "created_at": 1.5}},
        {"score": {**good, "created_at": "noon"}},
        {"score": {**good, "value": {"nested": 1}, "created_at": 2.0}},
        {"score": {**good, "target_id": "nobody", "created_at": 3.0}},
        {"score": "not an object"},
    ]
    path = tmp_path / "scores.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    capsys.readouterr()
    assert main(["import", str(path), "--db", str(scenario.db)]) == 0
    out, err = capsys.readouterr()
    assert "Imported 0 spans and 1 score into" in out and "4 lines skipped" in out
    assert "line 2: the score's created_at is not a number of seconds" in err
    assert "line 3: " in err and "line 5: the score is not an object" in err
    assert "line 4: the score's session nobody is not in the store" in err


def test_hostile_lines_are_skipped_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = record_support_sessions(tmp_path / "traces.db")
    _, spans = _exported(scenario.db, "chat-2", tmp_path, "chat-2.jsonl")
    span = spans[0]
    lines = [
        "[" * 100_000 + "]" * 100_000,  # deeper than the JSON decoder goes
        json.dumps({**span, "span_id": "1" * 16, "start_ns": 2**70}),
        json.dumps({**span, "span_id": "2" * 16, "end_ns": -1}),
        json.dumps({**span, "span_id": "3" * 16, "events": [{"name": "e", "time_ns": "soon"}]}),
        json.dumps({**span, "span_id": "4" * 16, "links": [{"trace_id": 5, "span_id": "1" * 16}]}),
        json.dumps({**span, "span_id": "5" * 16, "name": "evil \x1b[2J\u202e", "attributes": {"n": 2**80}}),
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["import", str(path), "--db", str(scenario.db)]) == 0
    out, err = capsys.readouterr()
    assert "Imported 1 span into" in out and "5 lines skipped" in out
    for line, why in [
        (1, "nested too deeply"),
        (2, "start_ns is not a time in nanoseconds"),
        (3, "end_ns is not a time in nanoseconds"),
        (4, "an event's time_ns is not a time in nanoseconds"),
        (5, "a link's trace_id is not 32 hex digits"),
    ]:
        assert f"line {line}: {why}" in err
    assert "Traceback" not in out + err
    assert any(s.name == "evil \x1b[2J\u202e" for s in queries.get_trace(scenario.db, span["trace_id"]).spans)


def test_a_line_that_is_not_utf8_is_skipped_and_names_are_shown_inert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = record_support_sessions(tmp_path / "traces.db")
    _, spans = _exported(scenario.db, "chat-2", tmp_path, "chat-2.jsonl")
    lifecycle.delete_session(scenario.db, "chat-2")
    body = [json.dumps(s).encode() for s in spans]
    body.insert(1, b'{"name": "\xff\xfe"}')  # one bad byte sequence among good lines
    body.append(body[0])  # a span twice in one file counts once
    path = tmp_path / "evil\x1b]0;PWNED\x07.jsonl"
    path.write_bytes(b"\n".join(body) + b"\n")
    capsys.readouterr()
    assert main(["import", str(path), "--db", str(scenario.db)]) == 0
    out, err = capsys.readouterr()
    assert f"Imported {len(spans)} spans into" in out and "(1 already there" in out and "1 line skipped" in out
    assert "line 2: not UTF-8 text" in err
    assert "\x1b" not in out + err and "\x07" not in out + err  # the file name's controls never reach the terminal
    assert sorted(s.session_id for s in queries.list_sessions(scenario.db)) == ["chat-1", "chat-2"]


def test_an_old_session_is_not_pruned_on_its_way_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    scenario = record_support_sessions(tmp_path / "traces.db")
    _, spans = _exported(scenario.db, "chat-2", tmp_path, "chat-2.jsonl")
    sixty_days = 60 * 86400 * 10**9
    archive = tmp_path / "old.jsonl"
    archive.write_text(
        "".join(
            json.dumps({**s, "start_ns": s["start_ns"] - sixty_days, "end_ns": s["end_ns"] - sixty_days}) + "\n"
            for s in spans
            if "score" not in s
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("THREADLINE_RETENTION", "30d")  # the store's retention is for new traffic
    kept = tmp_path / "kept.db"
    assert main(["import", str(archive), "--db", str(kept)]) == 0
    for thread in threading.enumerate():
        if thread.name == "threadline-retention":
            thread.join(30)
    assert [s.session_id for s in queries.list_sessions(kept)] == ["chat-2"]
