"""The web view's search, traces and dashboard pages over a store written by threadline's real core."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the ui extra is not installed (pip install 'threadline[ui]')")

from threadline.cli import fmt_cost

sys.path.insert(0, str(Path(__file__).parent))
import ui_kit
from ui_kit import client, parse, support_fixture, table_rows  # noqa: F401 - the `support` fixture


def trace_rows(html: str) -> list[dict[str, str]]:
    """The traces table as ``{column heading: cell text}`` rows, each with its trace link as ``href``."""
    rows = table_rows(html, "traces")
    links = [tr.find("a").attrs["href"] for tr in parse(html).find("table", "traces").find("tbody").find_all("tr")]
    return [{**row, "href": href} for row, href in zip(rows, links, strict=True)]


# --- search ---------------------------------------------------------------------------------------


def test_search_page_lists_hits_that_open_their_trace(support: ui_kit.Support) -> None:
    c = client(support.db)
    response = c.get("/search", params={"q": "refund"})
    assert response.status_code == 200
    page = parse(response.text)
    hits = page.find_all("li", "hit")
    ids = support.trace_ids
    assert [h.find("a", "hit-link").attrs["href"] for h in hits] == [
        f"/traces/{ids['turn4']}",
        f"/traces/{ids['turn3']}",
    ]
    assert [m.text() for m in hits[0].find_all("mark")] == ["refund"]
    assert hits[0].find("p", "snippet").text() == "yes, refund it"
    assert "interrupted" in hits[1].text() and "support-1" in hits[1].text()
    opened = c.get(hits[0].find("a", "hit-link").attrs["href"])
    assert opened.status_code == 200 and ui_kit.ANSWER_4 in opened.text


def test_search_box_on_the_sessions_page_and_within_a_session(support: ui_kit.Support) -> None:
    c = client(support.db)
    form = parse(c.get("/").text).find("form", "search-form")
    assert form.attrs["action"] == "/search" and form.find("input", name="q")
    inside = parse(c.get("/sessions/sales-2").text).find("form", "search-form")
    assert inside.find("input", name="session").attrs["value"] == "sales-2"
    assert "Search within this session" in inside.text()
    page = parse(c.get("/search", params={"q": "refund", "session": "sales-2"}).text)
    assert not page.find_all("li", "hit") and "in this session" in page.find(id="no-hits").text()
    page = parse(c.get("/search", params={"q": "plan", "session": "sales-2"}).text)
    assert [h.find("a", "hit-link").attrs["href"] for h in page.find_all("li", "hit")] == [
        f"/traces/{support.trace_ids['sales']}"
    ]


@pytest.mark.parametrize("query", ["order 1234?", '"open', "NEAR(", "AND"])
def test_bad_search_syntax_is_a_400_page_that_says_why(support: ui_kit.Support, query: str) -> None:
    response = client(support.db).get("/search", params={"q": query})
    assert response.status_code == 400
    problem = parse(response.text).find(id="search-problem").text()
    assert "cannot search for" in problem and "double quotes" in problem
    assert parse(response.text).find("input", name="q").attrs["value"] == query  # kept, to fix it


def test_search_results_escape_what_traces_captured(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    ui_kit.record_hostile(db)
    response = client(db).get("/search", params={"q": "alert"})
    assert response.status_code == 200
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt;" in response.text
    assert "\x1b" not in response.text


# --- traces ---------------------------------------------------------------------------------------


def test_traces_page_shows_every_trace_with_session_outcome_and_cost(support: ui_kit.Support) -> None:
    rows = trace_rows(client(support.db).get("/traces").text)
    ids = support.trace_ids
    assert [r["href"] for r in rows] == [
        f"/traces/{ids[k]}" for k in ("turn4", "lone", "turn3", "turn2", "sales", "turn1")
    ]  # newest first
    by_id = {r["href"].rsplit("/", 1)[1]: r for r in rows}
    assert by_id[ids["turn2"]]["Outcome"] == "error" and by_id[ids["turn3"]]["Outcome"] == "interrupted"
    assert by_id[ids["turn4"]]["Outcome"] == "resumed" and by_id[ids["lone"]]["Session"] == "-"
    assert by_id[ids["sales"]]["Cost"] == fmt_cost(support.sales_cost)
    assert by_id[ids["sales"]]["Tokens"] == "2,900" and by_id[ids["turn1"]]["Duration"] == "2.40 s"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"outcome": "error"}, ["turn2"]),
        ({"outcome": "interrupted"}, ["turn3"]),
        ({"outcome": "resumed"}, ["turn4"]),
        ({"outcome": "ok"}, ["lone", "sales", "turn1"]),
        ({"user": "agent-7"}, ["turn4"]),
        ({"model": "o3-mini"}, ["turn4"]),
        ({"session": "sales-2"}, ["sales"]),
        ({"session": "support-1", "sort": "-duration_ms"}, ["turn4", "turn1", "turn2", "turn3"]),
        ({"sort": "-cost_usd", "outcome": "ok"}, ["sales", "turn1", "lone"]),  # the job has no cost: last
        ({"sort": "cost_usd", "outcome": "ok"}, ["turn1", "sales", "lone"]),  # last either way
    ],
)
def test_traces_filters_and_sorting(support: ui_kit.Support, query: dict[str, str], expected: list[str]) -> None:
    rows = trace_rows(client(support.db).get("/traces", params=query).text)
    assert [r["href"] for r in rows] == [f"/traces/{support.trace_ids[k]}" for k in expected]


def test_traces_time_window_and_pages(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    ui_kit.bulk_sessions(db, 120)
    c = client(db)
    page = parse(c.get("/traces", params={"per": "50", "page": "3"}).text)
    assert page.find(id="trace-count").text() == "120 traces"
    assert len(page.find("table", "traces").find("tbody").find_all("tr")) == 20
    assert "101–120 of 120" in page.find("nav", "pager").text()
    first = trace_rows(c.get("/traces", params={"sort": "start", "per": "25"}).text)
    assert first[0]["href"] == f"/traces/{1:032x}"  # oldest first


@pytest.mark.parametrize("query", [{"outcome": "exploded"}, {"since": "last tuesday"}, {"until": "soon"}])
def test_traces_bad_filters_are_a_400_page(support: ui_kit.Support, query: dict[str, str]) -> None:
    response = client(support.db).get("/traces", params=query)
    assert response.status_code == 400
    assert parse(response.text).find("p", "problem")


# --- dashboard ------------------------------------------------------------------------------------


def test_dashboard_draws_cost_tokens_traces_and_latency(support: ui_kit.Support) -> None:
    response = client(support.db).get("/dashboard", params={"window": "-24h"})
    assert response.status_code == 200
    page = parse(response.text)
    assert page.find(id="dash-traces").text() == "6" and page.find(id="dash-errors").text() == "1"
    assert page.find(id="dash-cost").text() == fmt_cost(support.support_cost + support.sales_cost)
    for chart in ("chart-cost", "chart-tokens", "chart-traces", "chart-latency"):
        assert page.find("figure", id=chart).find("svg")
    cost_bars = page.find("figure", id="chart-cost").find_all("rect")
    assert {r.find("title").text().split(" · ")[1].split(":")[0] for r in cost_bars} == {
        "gpt-4o-mini-2024-07-18",
        "o3-mini",
        ui_kit.SONNET,
    }
    legend = [li.text() for li in page.find("figure", id="chart-cost").find_all("li")]
    assert legend[0] == ui_kit.SONNET  # costliest first
    models = {tr.find("td").text(): tr for tr in page.find(id="model-table").find("tbody").find_all("tr")}
    assert fmt_cost(support.sales_cost) in models[ui_kit.SONNET].text()
    assert "http" not in "".join(s.attrs.get("href", "") for s in page.find_all("link"))  # no network asset


def test_dashboard_escapes_model_names_and_rejects_unknown_windows(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    ui_kit.bulk_sessions(db, 3, base_ns=None)
    import sqlite3

    with sqlite3.connect(db) as conn:  # a hostile model name, as a rogue provider could report it
        conn.execute("UPDATE traces SET model_usage = replace(model_usage, 'gpt-4o-mini', '<b>x</b>')")
    c = client(db)
    response = c.get("/dashboard", params={"window": "-90d"})
    assert response.status_code == 200
    assert "<b>x</b>" not in response.text and "&lt;b&gt;x&lt;/b&gt;" in response.text
    assert c.get("/dashboard", params={"window": "-5y"}).status_code == 400
    assert c.get("/dashboard", params={"by": "minute"}).status_code == 400


def test_empty_window_says_so(support: ui_kit.Support) -> None:
    import sqlite3

    with sqlite3.connect(support.db) as conn:
        conn.execute("UPDATE traces SET start_ns = start_ns - 400 * 86400 * 1000000000")
    page = parse(client(support.db).get("/dashboard").text)
    assert page.find(id="dash-traces").text() == "0" and "No traces in this window" in page.find("p", "empty").text()
