"""The web view over the LangGraph demo's real data (real StateGraph, real integrations, fake model only)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the ui extra is not installed (pip install 'threadline[ui]')")
demo = pytest.importorskip("threadline_langgraph.demo", reason="the LangGraph demo is not installed")

from starlette.testclient import TestClient  # noqa: E402

import threadline  # noqa: E402
from threadline import semconv as sc  # noqa: E402
from threadline.exporters.sqlite import SQLiteSpanExporter  # noqa: E402
from threadline.ui import create_app  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from ui_kit import parse, session_rows  # noqa: E402


def test_demo_sessions_turns_and_traces_render(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=["langchain", "langgraph"])
    session_ids = list(demo.run() or [])
    threadline.flush()
    assert session_ids

    c = TestClient(create_app(db), base_url="http://127.0.0.1")
    rows = {r["Session"]: r for r in session_rows(c.get("/").text)}
    assert set(session_ids) <= set(rows)

    outcomes: list[str] = []
    pairs = 0
    for session_id in session_ids:
        page = parse(c.get(f"/sessions/{session_id}").text)
        turns = page.find("ol", "timeline").find_all("li", "turn")
        assert len(turns) == int(rows[session_id]["Traces"])
        outcomes += [t.attrs["data-outcome"] for t in turns]
        pairs += sum(1 for t in turns for r in t.find_all("span", "rail") if "start" in r.classes())
        for t in turns:
            trace = c.get(t.find("a", "trace-link").attrs["href"])
            assert trace.status_code == 200
            spans = parse(trace.text).find("div", "waterfall").find_all("details", "span")
            assert spans
            for span in spans:  # every span of the turn carries the session, as the store has it
                attributes = {tr.find("th").text(): tr.find("td").text() for tr in span.find_all("tr")}
                assert attributes.get(sc.SESSION_ID) == session_id
        assert rows[session_id]["Cost"] not in ("", "-")  # the fake model reports a real model's usage
    # The demo's approval step: an interrupted turn answered by a resumed one, drawn as a pair.
    assert "interrupted" in outcomes and "resumed" in outcomes and pairs >= 1


def test_demo_session_shows_cost_split_usage_by_model_and_each_pause_once(tmp_path: Path) -> None:
    """Issue #14's session properties over real demo data: input/output cost, usage by model, total tokens;
    an interrupted turn's question and a resumed turn's answer are each shown once (page and terminal)."""
    import io

    from threadline import cli
    from threadline.store import queries

    db = tmp_path / "traces.db"
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=["langchain", "langgraph"])
    (session_id,) = list(demo.run() or [])[:1]
    threadline.flush()
    summary = next(s for s in queries.list_sessions(db) if s.session_id == session_id)
    assert summary.cost_input_usd is not None and summary.cost_output_usd is not None
    assert summary.cost_input_usd + summary.cost_output_usd == pytest.approx(summary.cost_usd, abs=1e-12)
    assert [m.model for m in summary.model_usage] == list(summary.models)
    assert sum(m.input_tokens or 0 for m in summary.model_usage) == summary.input_tokens
    assert summary.total_tokens == summary.input_tokens + summary.output_tokens

    c = TestClient(create_app(db), base_url="http://127.0.0.1")
    html = c.get(f"/sessions/{session_id}").text
    page = parse(html)
    assert page.find(id="session-cost-input").text() == cli.fmt_cost(summary.cost_input_usd)
    assert page.find(id="session-cost-output").text() == cli.fmt_cost(summary.cost_output_usd)
    usage_rows = page.find(id="model-usage").find("tbody").find_all("tr")
    assert [r.find_all("td")[0].text() for r in usage_rows] == list(summary.models)

    buf = io.StringIO()
    console = cli.make_console(buf)
    console.print(cli.replay(queries.get_session(db, session_id)))
    text = buf.getvalue()
    assert f"(input {cli.fmt_cost(summary.cost_input_usd)}, output {cli.fmt_cost(summary.cost_output_usd)})" in text
    assert text.count("Approve this refund?") == 1  # the question, as the interrupt; not again as output
    assert text.count('"approved": true') == 1  # the answer, as "resumed with"; not again as input
