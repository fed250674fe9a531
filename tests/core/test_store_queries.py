"""The store's read API over real spans: sessions column by column, turns, trees, filters."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import StatusCode

import threadline
from threadline import semconv as sc
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.integration import current_emitter
from threadline.records import GraphPause, Interrupt, Run, SpanKind
from threadline.store import open_store, queries

sys.path.insert(0, os.path.dirname(__file__))

from store_kit import (
    INTERRUPT_PAYLOAD,
    RESUME_VALUE,
    SONNET,
    TTFT_TURN_1_MS,
    TTFT_TURN_4_MS,
    Scenario,
    expected_bounds,
    median,
    record_support_sessions,
)


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return record_support_sessions(tmp_path / "traces.db")


def test_session_aggregate_column_by_column(scenario: Scenario) -> None:
    sessions = {s.session_id: s for s in queries.list_sessions(scenario.db)}
    assert set(sessions) == {"chat-1", "chat-2"}, "a trace without a session is no session"
    s = sessions["chat-1"]
    first, last = expected_bounds(scenario.session_spans("chat-1"))
    assert s.first_start_ns == first
    assert s.last_end_ns == last
    assert s.duration_ms == pytest.approx((last - first) / 1e6)
    assert s.first_trace == datetime.fromtimestamp(first / 1e9, tz=timezone.utc)
    assert s.traces == 4
    assert s.errors == 1, "turn 2's failed tool; turn 3 had a failed tool too but was interrupted"
    assert s.interrupted == 1
    assert s.users == ("agent-7", "user-1")
    assert s.models == ("claude-sonnet-4-5", "gpt-4o-mini-2024-07-18", "o3-mini")
    # Counted once: the framework wrapper's copy of turn 1's usage is not added again.
    assert s.input_tokens == 1500 + (100 + 2000 + 500) + 400
    assert s.output_tokens == 200 + 300 + 600
    assert s.cache_read_tokens == 1024 + 2000
    assert s.cache_write_tokens == 500
    assert s.reasoning_tokens == 512
    assert s.cost_usd is not None
    assert round(s.cost_usd, 2) == round(scenario.expected_cost, 2)
    assert s.cost_usd == pytest.approx(scenario.expected_cost, abs=1e-9)
    assert s.ttft_median_ms == pytest.approx(median([TTFT_TURN_1_MS, TTFT_TURN_4_MS]))

    other = sessions["chat-2"]
    assert (other.traces, other.errors, other.interrupted, other.users) == (1, 0, 0, ("user-3",))
    assert other.ttft_median_ms == pytest.approx(TTFT_TURN_1_MS)


def test_session_sums_equal_the_spans_usage(scenario: Scenario) -> None:
    s = queries.get_session(scenario.db, "chat-1")
    assert s is not None
    spans = scenario.session_spans("chat-1")
    carried = [sp for sp in spans if sc.GEN_AI_USAGE_INPUT_TOKENS in (sp.attributes or {})]
    assert len(carried) == 3
    assert s.summary.input_tokens == sum(sp.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] for sp in carried)
    assert s.summary.cost_usd == pytest.approx(sum(sp.attributes[sc.GEN_AI_USAGE_COST] for sp in carried))
    # The per-turn figures add up to the session's.
    assert sum(t.input_tokens or 0 for t in s.turns) == s.summary.input_tokens
    assert sum(t.cost_usd or 0 for t in s.turns) == pytest.approx(s.summary.cost_usd)


def test_turns_in_order_with_outcomes_interrupts_and_resume(scenario: Scenario) -> None:
    detail = queries.get_session(scenario.db, "chat-1")
    assert detail is not None
    turns = detail.turns
    assert [t.trace_id for t in turns] == [scenario.trace_ids[k] for k in ("turn1", "turn2", "turn3", "turn4")]
    assert [t.index for t in turns] == [1, 2, 3, 4]
    assert [t.outcome for t in turns] == ["ok", "error", "interrupted", "resumed"]

    one, two, three, four = turns
    assert one.name == "handle-turn"
    assert "What is 2 + 2?" in (one.input or "")
    assert one.output == "2 + 2 = 4"
    assert (one.input_tokens, one.output_tokens, one.cache_read_tokens) == (1500, 200, 1024)
    assert one.duration_ms is not None and one.duration_ms >= 0

    assert two.error == "execute_tool order_lookup: LookupError: order service unavailable"
    assert two.models == ("claude-sonnet-4-5",) and SONNET in two.models[0]

    assert three.input == "Refund order 1234"
    assert three.output == '{"question": "Refund 40 EUR to order 1234?", "amount": 40}'  # what the human is asked
    assert [(i.id, i.value) for i in three.interrupts] == [("int-1", INTERRUPT_PAYLOAD)]
    assert three.interrupts[0].text == '{"question": "Refund 40 EUR to order 1234?", "amount": 40}'
    assert three.error_spans == 1, "the failed fraud check is kept, the turn is still interrupted"

    assert four.is_resume
    assert four.resume_value == RESUME_VALUE
    assert four.resume_interrupt_ids == ("int-1",)
    assert four.output == "Refunded 40 EUR."
    assert four.input == RESUME_VALUE  # a resumed turn was given the human's answer
    assert four.users == ("agent-7",)
    assert (four.output_tokens, four.reasoning_tokens) == (600, 512)


def test_unknown_session_and_trace_are_none(scenario: Scenario) -> None:
    assert queries.get_session(scenario.db, "no-such-session") is None
    assert queries.get_trace(scenario.db, "0" * 32) is None
    assert queries.get_trace(scenario.db, "not-hex") is None


def test_trace_tree_order_depth_and_prefix(scenario: Scenario) -> None:
    trace_id = scenario.trace_ids["turn1"]
    detail = queries.get_trace(scenario.db, trace_id[:10])
    assert detail is not None
    assert detail.summary.trace_id == trace_id
    assert [(s.depth, s.name) for s in detail.spans] == [
        (0, "handle-turn"),
        (1, "chat gpt-4o-mini"),  # the ChatOpenAI wrapper (its span is named by the model)
        (2, "chat gpt-4o-mini"),
    ]
    outer, inner = detail.spans[1], detail.spans[2]
    assert inner.parent_span_id == outer.span_id
    assert detail.children(outer) == [inner]
    assert outer.input_tokens is None and outer.attributes[sc.USAGE_COUNTED_IN] == inner.span_id
    assert inner.input_tokens == 1500 and inner.ttft_ms == pytest.approx(TTFT_TURN_1_MS)
    assert detail.summary.spans == 3 and detail.summary.outcome == "ok"

    interrupted = queries.get_trace(scenario.db, scenario.trace_ids["turn3"])
    assert interrupted is not None
    node = next(s for s in interrupted.spans if s.name == "approve")
    assert node.outcome == "interrupted" and node.interrupt_ids == ("int-1",)
    assert node.status_code == "UNSET", "an interrupt is not an error status"
    assert any(e["name"] == sc.EVENT_INTERRUPT for e in node.events)
    assert interrupted.spans[0].outcome == "interrupted"


def test_ambiguous_prefix_is_an_error(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(SQLiteSpanExporter(db)))
    tracer = provider.get_tracer("test")
    for _ in range(40):  # 40 traces: two surely share a first hex digit
        with tracer.start_as_current_span("t"):
            pass
    traces = queries.list_traces(db, limit=100)
    first_digits = [t.trace_id[0] for t in traces]
    shared = next(d for d in first_digits if first_digits.count(d) > 1)
    with pytest.raises(queries.AmbiguousIdError, match="matches several traces"):
        queries.get_trace(db, shared)


def test_list_sessions_filters_order_and_paging(scenario: Scenario) -> None:
    db = scenario.db
    assert [s.session_id for s in queries.list_sessions(db, user="agent-7")] == ["chat-1"]
    assert [s.session_id for s in queries.list_sessions(db, user="user-3")] == ["chat-2"]
    assert queries.list_sessions(db, user="nobody") == []

    by_last = [s.session_id for s in queries.list_sessions(db)]
    assert by_last == ["chat-2", "chat-1"], "most recently active first"
    assert [s.session_id for s in queries.list_sessions(db, order_by="first_trace")] == ["chat-1", "chat-2"]
    assert [s.session_id for s in queries.list_sessions(db, order_by="-traces")] == ["chat-1", "chat-2"]
    assert [s.session_id for s in queries.list_sessions(db, limit=1, offset=1)] == ["chat-1"]
    assert [s.session_id for s in queries.list_sessions(db, session_ids=["chat-2"])] == ["chat-2"]
    with pytest.raises(ValueError, match="cannot order by"):
        queries.list_sessions(db, order_by="cost; DROP TABLE spans")

    chat2 = queries.list_sessions(db, session_ids=["chat-2"])[0]
    since = chat2.first_start_ns  # chat-1 ended before chat-2 started
    assert [s.session_id for s in queries.list_sessions(db, since=since)] == ["chat-2"]
    assert [s.session_id for s in queries.list_sessions(db, until=since - 1)] == ["chat-1"]
    future = datetime.now(tz=timezone.utc) + timedelta(hours=1)
    assert queries.list_sessions(db, since=future) == []
    assert len(queries.list_sessions(db, since=datetime.now(tz=timezone.utc) - timedelta(hours=1))) == 2


def test_list_traces_includes_traces_without_a_session(scenario: Scenario) -> None:
    traces = queries.list_traces(scenario.db)
    assert len(traces) == 6
    assert traces[0].trace_id == scenario.trace_ids["lone"] and traces[0].session_id is None
    chat1 = queries.list_traces(scenario.db, session_id="chat-1", order_by="start")
    assert [t.trace_id for t in chat1] == [scenario.trace_ids[k] for k in ("turn1", "turn2", "turn3", "turn4")]
    assert [t.trace_id for t in queries.list_traces(scenario.db, user="agent-7")] == [scenario.trace_ids["turn4"]]


def test_readers_accept_an_open_connection(scenario: Scenario) -> None:
    conn = open_store(scenario.db, create=False)
    try:
        assert len(queries.list_sessions(conn)) == 2
        assert queries.get_session(conn, "chat-1") is not None
        assert not conn.in_transaction
    finally:
        conn.close()


def test_to_dict_is_json_ready(scenario: Scenario) -> None:
    import json

    detail = queries.get_session(scenario.db, "chat-1")
    assert detail is not None
    data = json.loads(json.dumps(detail.to_dict()))
    assert data["session"]["traces"] == 4
    assert data["session"]["first_trace"].endswith("Z")
    assert data["turns"][2]["interrupts"] == [{"id": "int-1", "value": INTERRUPT_PAYLOAD}]
    assert data["turns"][3]["resume_value"] == RESUME_VALUE


# --- spans threadline did not build ------------------------------------------------------------------


def test_trace_session_comes_from_any_span_root_preferred(tmp_path: Path) -> None:
    """A user's own root span without a session, around a graph run that has one (a LangGraph thread)."""
    db = tmp_path / "traces.db"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(SQLiteSpanExporter(db)))
    threadline.instrument(tracer_provider=provider, integrations=[])
    tracer = provider.get_tracer("my-web-app")
    emitter = current_emitter()
    with tracer.start_as_current_span("POST /chat") as request:
        graph = emitter.start(Run(name="graph", run_kind=SpanKind.GRAPH, session_hints={"thread_id": "thread-9"}))
        node = emitter.start(Run(name="ask", run_kind=SpanKind.NODE), parent=graph)
        emitter.pause(node, GraphPause(interrupts=[Interrupt(id="i-9", value="approve?")]))
        emitter.end(node)
        emitter.end(graph)
        request.set_status(StatusCode.OK)
    with tracer.start_as_current_span("root with its own session") as root:
        root.set_attribute(sc.SESSION_ID, "explicit-root")
        child = emitter.start(Run(name="graph", run_kind=SpanKind.GRAPH, session_hints={"thread_id": "other"}))
        emitter.end(child)

    sessions = {s.session_id: s for s in queries.list_sessions(db)}
    assert set(sessions) == {"thread-9", "explicit-root"}
    assert sessions["thread-9"].interrupted == 1 and sessions["thread-9"].errors == 0
    turn = queries.get_session(db, "thread-9").turns[0]
    assert turn.name == "POST /chat" and turn.outcome == "interrupted"
    assert [i.value for i in turn.interrupts] == ["approve?"]
    assert queries.get_session(db, "other") is None


def test_parse_time_forms() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert queries.parse_time("-1h", now) == now - timedelta(hours=1)
    assert queries.parse_time("30m", now) == now - timedelta(minutes=30)
    assert queries.parse_time("2d", now) == now - timedelta(days=2)
    assert queries.parse_time("1w", now) == now - timedelta(weeks=1)
    assert queries.parse_time("2026-04-30T10:00:00Z") == datetime(2026, 4, 30, 10, tzinfo=timezone.utc)
    assert queries.parse_time("2026-04-30T10:00+02:00") == datetime(2026, 4, 30, 8, tzinfo=timezone.utc)
    local = queries.parse_time("2026-04-30")
    assert local.tzinfo is not None and local.replace(tzinfo=None) == datetime(2026, 4, 30)
    with pytest.raises(ValueError, match="relative time"):
        queries.parse_time("yesterday-ish")
