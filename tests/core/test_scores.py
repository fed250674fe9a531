"""``threadline.score()``: what it scores, the span and event it emits, the store's scores table, bad input."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

import threadline
from threadline import semconv as sc
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.store import scores as score_store
from threadline.store.results import scores_text
from threadline.store.schema import open_store
from threadline.store.sessions import score_summaries
from threadline.testing import capture


def _attrs(span) -> dict:
    return dict(span.attributes or {})


def test_inside_a_traced_call_the_current_trace_is_scored_by_a_child_span() -> None:
    @threadline.observe(name="handle-turn")
    def handle_turn() -> threadline.ScoreTarget:
        return threadline.score("helpful", 1, comment="solved it", author="qa-bot")

    with capture(integrations=[]) as spans, threadline.session("chat-1", user_id="u-1"):
        target = handle_turn()

    turn = spans.one("handle-turn")
    score = spans.one(sc.SCORE_SPAN_NAME)
    assert target == threadline.ScoreTarget("trace", format(turn.context.trace_id, "032x"))
    assert score.context.trace_id == turn.context.trace_id
    assert score.parent is not None and score.parent.span_id == turn.context.span_id
    expected = {
        sc.SCORE_NAME: "helpful",
        sc.SCORE_VALUE: 1.0,
        sc.SCORE_DATA_TYPE: "numeric",
        sc.SCORE_COMMENT: "solved it",
        sc.SCORE_SOURCE: "code",
        sc.SCORE_AUTHOR: "qa-bot",
        sc.SCORE_TARGET_KIND: "trace",
        sc.SCORE_TARGET_ID: target.id,
    }
    attrs = _attrs(score)
    assert {k: attrs[k] for k in expected} == expected
    assert attrs[sc.SESSION_ID] == "chat-1" and attrs[sc.USER_ID] == "u-1"
    [event] = score.events
    assert event.name == sc.EVENT_SCORE
    assert dict(event.attributes) == expected


def test_in_a_session_scope_outside_any_trace_the_session_is_scored_by_a_root_span() -> None:
    with capture(integrations=[]) as spans:
        with threadline.session("chat-2"):
            target = threadline.score("resolved", True)
        outside = threadline.score("verdict", "good", session_id="chat-3")

    assert target == threadline.ScoreTarget("session", "chat-2")
    assert outside == threadline.ScoreTarget("session", "chat-3")
    first, second = spans.finished()
    assert first.parent is None and second.parent is None
    assert _attrs(first)[sc.SCORE_VALUE] is True
    assert _attrs(first)[sc.SCORE_DATA_TYPE] == "boolean"
    assert _attrs(first)[sc.SESSION_ID] == "chat-2"
    assert _attrs(second)[sc.SCORE_DATA_TYPE] == "categorical"
    assert _attrs(second)[sc.SCORE_TARGET_ID] == "chat-3"


def test_an_explicit_trace_id_gives_a_root_span_linked_to_that_trace() -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with capture(integrations=[]) as spans:
        target = threadline.score("latency_ok", 0.25, trace_id=trace_id.upper())
    [span] = spans.finished()
    assert target == threadline.ScoreTarget("trace", trace_id)
    assert span.parent is None and format(span.context.trace_id, "032x") != trace_id
    [link] = span.links
    assert format(link.context.trace_id, "032x") == trace_id
    assert dict(link.attributes) == {sc.SCORE_TARGET_KIND: "trace"}


def test_an_explicit_session_id_is_mapped_like_session_scopes() -> None:
    with capture(integrations=[], session_id_from=lambda raw: f"tenant-a:{raw}") as spans:
        target = threadline.score("helpful", 0, session_id="chat-9")
    assert target.id == "tenant-a:chat-9"
    assert _attrs(spans.one(sc.SCORE_SPAN_NAME))[sc.SCORE_TARGET_ID] == "tenant-a:chat-9"


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("", 1), {"session_id": "s"}, ValueError, "must not be empty"),
        (("x" * 201, 1), {"session_id": "s"}, ValueError, "at most 200"),
        (("bad\nname", 1), {"session_id": "s"}, ValueError, "printable"),
        ((42, 1), {"session_id": "s"}, TypeError, "score name must be a string"),
        (("helpful", math.nan), {"session_id": "s"}, ValueError, "finite"),
        (("helpful", math.inf), {"session_id": "s"}, ValueError, "finite"),
        (("helpful", None), {"session_id": "s"}, TypeError, "number, a bool or a category"),
        (("helpful", [1]), {"session_id": "s"}, TypeError, "number, a bool or a category"),
        (("verdict", ""), {"session_id": "s"}, ValueError, "must not be empty"),
        (("verdict", "\x1b[31mred"), {"session_id": "s"}, ValueError, "printable"),
        (("helpful", 1), {"session_id": "s", "comment": 5}, TypeError, "comment"),
        (("helpful", 1), {"session_id": "s", "comment": "a\x07b"}, ValueError, "comment"),
        (("helpful", 1), {"session_id": "s", "source": ""}, ValueError, "source"),
        (("helpful", 1), {"trace_id": "not-hex"}, ValueError, "32 hex digits"),
        (("helpful", 1), {"trace_id": "ab" * 16, "session_id": "s"}, ValueError, "not both"),
        (("helpful", 1), {}, ValueError, "outside a traced call"),
    ],
)
def test_bad_input_is_a_clear_error_and_records_nothing(args, kwargs, error, match) -> None:
    with capture(integrations=[]) as spans:
        with pytest.raises(error, match=match):
            threadline.score(*args, **kwargs)
    assert spans.finished() == []


def test_score_spans_go_to_the_scores_table_not_the_spans_table(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[])

    @threadline.observe(name="turn")
    def turn() -> str:
        return threadline.score("helpful", 0.5).id

    with threadline.session("chat-7"):
        trace_id = turn()
        threadline.score("verdict", "good", comment="polite", author="ana")
    assert threadline.flush(10)

    conn = open_store(db, create=False)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM spans")]
        assert names == ["turn"]
        by_trace = score_store.scores_for(conn, "trace", trace_id)
        by_session = score_store.scores_for(conn, "session", "chat-7")
        summary = score_summaries(conn, ["chat-7"])["chat-7"]
    finally:
        conn.close()
    assert [(s.name, s.value, s.data_type, s.source) for s in by_trace] == [("helpful", 0.5, "numeric", "code")]
    [verdict] = by_session
    assert (verdict.value, verdict.comment, verdict.author) == ("good", "polite", "ana")
    assert scores_text(summary) == "helpful 0.5 · verdict good"


def test_store_functions_summary_and_missing_table(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    conn = open_store(db)
    try:
        assert score_store.scores_for(conn, "session", "s") == []  # nothing scored yet
        assert score_summaries(conn, ["s"]) == {}
        for value in (1, 0, 0.5, 1):
            score_store.add_score(conn, "helpful", value, session_id="s", source="t")
        for value in ("good", "good", "bad", "good"):
            score_store.add_score(conn, "verdict", value, session_id="s", source="t")
        new_id = score_store.add_score(conn, "thumbs", False, session_id="s", source="t", created_at=1.0)
        with pytest.raises(ValueError, match="target_kind"):
            score_store.build_row(target_kind="span", target_id="x", name="n", value=1, source="t")
        with pytest.raises(ValueError, match="exactly one of trace_id and session_id"):
            score_store.add_score(conn, "n", 1, trace_id="ab" * 16, session_id="s")
        with pytest.raises(sqlite3.IntegrityError):  # the table's own CHECK, for writers that skip validation
            conn.execute(
                "INSERT INTO scores (target_kind, target_id, name, data_type, source, created_at) "
                "VALUES ('span', 'x', 'n', 'numeric', 't', 0)"
            )
        summary = score_summaries(conn, ["s", "other"])
        thumbs = score_store.scores_for(conn, "session", "s")[0]
    finally:
        conn.close()
    assert set(summary) == {"s"}
    assert scores_text(summary["s"]) == "helpful 0.62 · thumbs 0 · verdict good×3 bad"
    assert {x.name: (x.count, x.mean, x.categories) for x in summary["s"]} == {
        "helpful": (4, 0.625, {}),
        "thumbs": (1, 0.0, {}),
        "verdict": (4, None, {"good": 3, "bad": 1}),
    }
    assert thumbs.id == new_id and thumbs.value is False and thumbs.created_at == 1.0


def test_a_foreign_span_named_like_a_score_is_kept_as_a_span() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("someone-else")
    with tracer.start_as_current_span(sc.SCORE_SPAN_NAME, attributes={sc.SCORE_NAME: "x"}) as span:
        pass
    assert score_store.score_from_span(span) is None
    rows, rest = score_store.partition_scores([span])
    assert rows == [] and rest == [span]


def test_a_refused_score_sets_nothing_up(tmp_path: Path) -> None:
    from threadline import _runtime

    with pytest.raises(ValueError, match="outside a traced call"):
        threadline.score("helpful", 1)
    assert _runtime.state.emitter is None
    assert not (tmp_path / "traces.db").exists()  # $THREADLINE_DB (conftest): the default store was not made
