"""Full-text search over captured content: what is indexed, when, what a search returns, and what it refuses."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

import threadline
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.store import lifecycle, open_store, rollups, search
from threadline.store.schema import SPAN_COLUMNS
from threadline.store.search import SearchSyntaxError

sys.path.insert(0, str(Path(__file__).parents[1] / "ui"))
import ui_kit  # noqa: E402
from ui_kit import support_fixture  # noqa: E402, F401 - the `support` fixture

sys.path.insert(0, str(Path(__file__).parent))
from store_kit import conversation  # noqa: E402


def _rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM search").fetchone()[0])


def test_search_lists_matching_traces_newest_first_with_a_highlighted_snippet(support: ui_kit.Support) -> None:
    hits = search.search(support.db, "refund")
    ids = support.trace_ids
    # Turn 3 asked for the refund (input and interrupt payload), turn 4 answered "yes, refund it" and "Refunded".
    assert [h.trace_id for h in hits] == [ids["turn4"], ids["turn3"]]
    assert all(h.session_id == "support-1" for h in hits)
    assert hits[0].outcome == "resumed" and hits[1].outcome == "interrupted"
    assert hits[1].matches == 2  # the graph's input and the approve node's interrupt payload
    for h in hits:
        assert any(matched and text.lower().startswith("refund") for text, matched in h.snippet)
    assert hits[0].snippet_text == "yes, [refund] it"


def test_search_reaches_inputs_outputs_tool_arguments_and_interrupt_payloads(support: ui_kit.Support) -> None:
    ids = support.trace_ids
    found = lambda q: {h.trace_id for h in search.search(support.db, q)}  # noqa: E731
    assert found("plan") == {ids["sales"]}  # the sales question and answer
    assert found("1234") == {ids["turn2"], ids["turn3"], ids["turn4"]}  # tool argument, inputs, payload, output
    assert found("EUR") == {ids["turn3"], ids["turn4"]}  # the interrupt payload; the reply
    assert found('"up to 20 seats"') == {ids["sales"]}  # a phrase
    assert found("refun*") == {ids["turn3"], ids["turn4"]}  # a prefix
    assert found("nightly") == set()  # span names are not captured content


def test_search_within_a_session_and_a_time_window(support: ui_kit.Support) -> None:
    ids = support.trace_ids
    assert [h.trace_id for h in search.search(support.db, "1234", session_id="support-1", limit=1)] == [ids["turn4"]]
    assert search.search(support.db, "refund", session_id="sales-2") == []
    since = support.base_ns + 200 * ui_kit.S  # after turns 1-3 (turn 4 starts at 305 s)
    assert [h.trace_id for h in search.search(support.db, "refund", since=since)] == [ids["turn4"]]


@pytest.mark.parametrize("query", ["order 1234?", '"unterminated', "AND", "refund NEAR(", "   "])
def test_bad_query_syntax_is_a_clear_error(support: ui_kit.Support, query: str) -> None:
    with pytest.raises(SearchSyntaxError) as caught:
        search.search(support.db, query)
    message = str(caught.value)
    assert "fts5" not in message.lower() and "Traceback" not in message
    assert "quotes" in message or "empty" in message


def test_nothing_is_indexed_when_content_capture_is_off(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    ui_kit.record_hostile(db, capture=False)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 2  # the spans are stored ...
    assert _rows(db) == 0  # ... and nothing of their (uncaptured) content is indexed
    assert search.search(db, "refund") == []


def test_snippets_carry_no_control_characters(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    ui_kit.record_hostile(db, capture=True)
    (hit,) = search.search(db, "alert")
    text = "".join(t for t, _ in hit.snippet)
    assert "\x1b" not in text and "\x07" not in text and "\n" not in text
    assert "<script>" in text  # kept as text; the CLI and the web view escape it


def test_a_repeated_history_is_indexed_once_in_the_trace_that_said_it(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[])
    history: list[dict[str, str]] = []
    traces = conversation("long", 6, "question number {turn} about kayak{turn}", "answer number {turn}", history)
    threadline.flush()
    assert [h.trace_id for h in search.search(db, "kayak0")] == [traces[0]]  # not in every later turn
    assert [h.trace_id for h in search.search(db, "kayak5")] == [traces[5]]
    assert len(search.search(db, "question")) == 6
    with sqlite3.connect(db) as conn:
        indexed = sum(len(r[0]) for r in conn.execute("SELECT text FROM search"))
    assert indexed < 2 * sum(len(m["content"]) + 1 for m in history)  # linear in the conversation


def test_deleting_a_trace_removes_it_from_the_index(support: ui_kit.Support) -> None:
    before = _rows(support.db)
    lifecycle.delete_trace(support.db, support.trace_ids["turn3"])
    assert [h.trace_id for h in search.search(support.db, "refund")] == [support.trace_ids["turn4"]]
    assert _rows(support.db) == before - 2
    lifecycle.delete_session(support.db, "sales-2")
    assert search.search(support.db, "plan") == []


def test_a_v2_store_is_back_filled_on_upgrade(support: ui_kit.Support) -> None:
    expected = [(h.trace_id, h.snippet) for h in search.search(support.db, "1234")]
    with sqlite3.connect(support.db) as conn:  # what a v2 store looks like: no index, version 2
        conn.execute("DROP TABLE search")
        conn.execute("DROP INDEX traces_outcome")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    open_store(support.db, create=False).close()
    assert [(h.trace_id, h.snippet) for h in search.search(support.db, "1234")] == expected


def test_a_v1_store_upgrades_to_a_searchable_one(tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "traces.db"
    shutil.copyfile(Path(__file__).parent / "fixtures" / "store_v1.db", db)
    open_store(db, create=False).close()
    with sqlite3.connect(db) as conn:
        captured = conn.execute("SELECT count(*) FROM spans WHERE attributes LIKE '%input.value%'").fetchone()[0]
    assert captured and _rows(db) > 0
    assert search.search(db, "refund")  # the fixture's support conversation asks for one


def test_a_rolled_back_batch_is_indexed_when_written_again(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    conn = open_store(db)
    indexer = search.Indexer()
    row = [None] * len(SPAN_COLUMNS)
    row[0], row[1], row[3], row[6], row[8] = "a" * 32, "b" * 16, "span", 1, "UNSET"
    row[SPAN_COLUMNS.index("attributes")] = '{"input.value": "a refund please"}'
    row[SPAN_COLUMNS.index("is_resume")] = 0
    insert = f"INSERT OR IGNORE INTO spans ({', '.join(SPAN_COLUMNS)}) VALUES ({', '.join('?' * len(row))})"
    conn.execute("BEGIN")
    conn.execute(insert, row)
    indexer.index(conn, [(row, None)])
    conn.execute("ROLLBACK")
    indexer.rolled_back()
    conn.execute("BEGIN")
    conn.execute(insert, row)
    rollups.refresh(conn, [row[0]])  # as the exporter does
    indexer.index(conn, [(row, None)])
    conn.execute("COMMIT")
    conn.close()
    assert [h.trace_id for h in search.search(db, "refund")] == ["a" * 32]


@pytest.mark.parametrize("window_traces", [1, 5000])  # a window too big to bound first, and one bounded first
def test_a_window_bounded_or_not_finds_the_same(support: ui_kit.Support, monkeypatch, window_traces: int) -> None:
    monkeypatch.setattr(search, "WINDOW_TRACES", window_traces)
    ids = support.trace_ids
    since = support.base_ns + 100 * ui_kit.S  # turn 3 (120 s), the job (200 s), turn 4 (305 s)
    assert [h.trace_id for h in search.search(support.db, "1234", since=since)] == [ids["turn4"], ids["turn3"]]
    until = support.base_ns + 90 * ui_kit.S
    assert [h.trace_id for h in search.search(support.db, "1234", until=until)] == [ids["turn2"]]
    found = search.search(support.db, "1234", session_id="support-1", since=since, until=until)
    assert found == []
    assert [h.trace_id for h in search.search(support.db, "plan", session_id="sales-2", until=until)] == [ids["sales"]]
