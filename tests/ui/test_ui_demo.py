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
