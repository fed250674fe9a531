"""The web view over a store written by threadline's real core: what each page shows, and what it refuses."""

from __future__ import annotations

import hashlib
import re
import socket
import sqlite3
import sys
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the ui extra is not installed (pip install 'threadline[ui]')")

from starlette.testclient import TestClient

from threadline import semconv as sc
from threadline.cli import fmt_cost
from threadline.store import queries
from threadline.ui import UIServer, create_app, run_cli
from threadline.ui.store import open_readonly

sys.path.insert(0, str(Path(__file__).parent))
import ui_kit
from ui_kit import S, parse, session_rows


@pytest.fixture
def support(tmp_path: Path) -> ui_kit.Support:
    return ui_kit.record_support(tmp_path / "traces.db")


def client(db: Path) -> TestClient:
    return TestClient(create_app(db), base_url="http://127.0.0.1")


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat().replace("+00:00", "Z")


# --- the sessions page ----------------------------------------------------------------------


def test_sessions_page_shows_the_cli_columns(support: ui_kit.Support) -> None:
    response = client(support.db).get("/")
    assert response.status_code == 200
    rows = {r["Session"]: r for r in session_rows(response.text)}
    assert set(rows) == {"support-1", "sales-2"}  # the trace without a session is no session
    s = rows["support-1"]
    assert (s["Traces"], s["Errors"], s["Interrupted"]) == ("4", "1", "1")  # the interrupt is not an error
    assert s["Users"] == "agent-7, user-1"
    assert s["Models"] == "gpt-4o-mini-2024-07-18, o3-mini"
    assert (s["In"], s["Out"], s["Cached"], s["Reasoning"]) == ("1,900", "800", "1,024", "512")
    assert s["Cost"] == fmt_cost(support.support_cost)
    assert s["TTFT"] == "675 ms"  # median of the two streamed calls' 350 ms and 1,000 ms
    assert s["Duration"] == "5m 09s"
    sales = rows["sales-2"]
    assert (sales["Traces"], sales["Errors"], sales["Interrupted"]) == ("1", "0", "0")
    assert (sales["In"], sales["Cached"], sales["Reasoning"]) == ("2,600", "2,000", "-")
    assert sales["Cost"] == fmt_cost(support.sales_cost)
    assert sales["TTFT"] == "-"
    page = parse(response.text)
    assert page.find(id="session-count").text() == "2 sessions"
    assert page.find("a", href="/sessions/support-1").text() == "support-1"


def test_sessions_sort_by_any_column_both_ways(support: ui_kit.Support) -> None:
    c = client(support.db)
    order = lambda url: [r["Session"] for r in session_rows(c.get(url).text)]  # noqa: E731
    assert order("/") == ["support-1", "sales-2"]  # most recently active first
    assert order("/?sort=last_trace") == ["sales-2", "support-1"]
    assert order("/?sort=cost_usd") == ["support-1", "sales-2"]
    assert order("/?sort=-cost_usd") == ["sales-2", "support-1"]
    assert order("/?sort=-traces") == ["support-1", "sales-2"]
    assert order("/?sort=-cache_read_tokens") == ["sales-2", "support-1"]
    assert order("/?sort=-ttft_median_ms") == ["support-1", "sales-2"]  # no value: last either way
    assert order("/?sort=ttft_median_ms") == ["support-1", "sales-2"]
    assert order("/?sort=session_id") == ["sales-2", "support-1"]
    assert order("/?sort=no_such_field") == ["support-1", "sales-2"]  # falls back to the default

    page = parse(c.get("/?sort=-cost_usd").text)
    cost_header = next(th for th in page.find_all("th") if th.text().startswith("Cost"))
    assert "sorted" in cost_header.classes() and "▼" in cost_header.text()
    assert cost_header.find("a").attrs["href"] == "/?sort=cost_usd"  # a second click flips it
    errors_header = next(th for th in page.find_all("th") if th.text().startswith("Errors"))
    assert errors_header.find("a").attrs["href"] == "/?sort=-errors"


def test_sessions_filter_by_user_and_time(support: ui_kit.Support) -> None:
    c = client(support.db)
    names = lambda url: [r["Session"] for r in session_rows(c.get(url).text)]  # noqa: E731
    assert names("/?user=user-2") == ["sales-2"]
    assert names("/?user=agent-7") == ["support-1"]  # the human who answered the interrupt
    assert names("/?user=nobody") == []
    assert names(f"/?since={iso(support.base_ns + 100 * S)}") == ["support-1"]  # sales-2 ended before
    assert names(f"/?until={iso(support.base_ns + 10 * S)}") == ["support-1"]  # sales-2 began after
    assert names("/?since=-24h") == ["support-1", "sales-2"]
    assert names("/?since=-10m") == []  # everything happened an hour ago

    empty = c.get("/?since=-10m")
    assert empty.status_code == 200 and "No sessions match these filters" in empty.text
    # The user box offers the store's users, and the filters survive sorting.
    page = parse(c.get("/?user=user-1&since=-24h").text)
    assert [o.attrs["value"] for o in page.find("datalist").find_all("option")] == [
        "agent-7",
        "user-1",
        "user-2",
    ]
    cost_header = next(th for th in page.find_all("th") if th.text().startswith("Cost"))
    assert cost_header.find("a").attrs["href"] == "/?user=user-1&since=-24h&sort=-cost_usd"

    bad = c.get("/?since=last+tuesday")
    assert bad.status_code == 400
    assert "cannot read the time" in parse(bad.text).find("p", "problem").text()


def test_sessions_paginated(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    ui_kit.bulk_sessions(db, 120)
    c = client(db)
    response = c.get("/?sort=session_id&per=25&page=3")
    names = [r["Session"] for r in session_rows(response.text)]
    assert names == [f"bulk-{i:05d}" for i in range(50, 75)]
    pager = parse(response.text).find("nav", "pager")
    assert "51–75 of 120" in pager.text() and "Page 3 of 5" in pager.text()
    links = {a.text(): a.attrs["href"] for a in pager.find_all("a")}
    assert links["‹ Previous"] == "/?sort=session_id&per=25&page=2"
    assert links["Next ›"] == "/?sort=session_id&per=25&page=4"
    assert links["Last »"] == "/?sort=session_id&per=25&page=5"

    last = c.get("/?sort=session_id&per=25&page=5")
    assert [r["Session"] for r in session_rows(last.text)][-1] == "bulk-00119"
    assert "Next ›" not in {a.text() for a in parse(last.text).find("nav", "pager").find_all("a")}
    past = c.get("/?per=25&page=9")
    assert session_rows(past.text) == [] and "120 in all" in past.text
    user = c.get("/?user=user-3&per=25")
    assert len(session_rows(user.text)) == 12 and "12 sessions" in user.text


# --- the session page ------------------------------------------------------------------------


def test_session_page_is_the_conversation_timeline(support: ui_kit.Support) -> None:
    response = client(support.db).get("/sessions/support-1")
    assert response.status_code == 200
    page = parse(response.text)
    turns = page.find("ol", "timeline").find_all("li", "turn")
    assert [t.attrs["id"] for t in turns] == ["turn-1", "turn-2", "turn-3", "turn-4"]
    assert [t.attrs["data-outcome"] for t in turns] == ["ok", "error", "interrupted", "resumed"]

    first, error, paused, resumed = (t.text() for t in turns)
    assert ui_kit.QUESTION_1 in first and ui_kit.ANSWER_1 in first
    assert "2.40 s" in first and "1,500 in" in first and "1,024 cached" in first
    assert ui_kit.QUESTION_2 in error and ui_kit.TOOL_ERROR in error
    assert ui_kit.QUESTION_3 in paused and "Paused for a human · answered in turn 4" in paused
    assert ui_kit.INTERRUPT_ID in paused and "Refund 40 EUR to order 1234?" in paused
    assert "Resumes turn 3 after 3m 05s waiting for a human" in resumed
    assert ui_kit.RESUME_VALUE in resumed and ui_kit.ANSWER_4 in resumed
    assert "512 reasoning" in resumed

    # The pair is drawn: a rail starts at the interrupted turn and ends at the resume.
    rails = [[r.classes() - {"rail"} for r in t.find_all("span", "rail")] for t in turns]
    assert rails == [[set()], [set()], [{"start"}], [{"end"}]]
    # Duration bars are relative to the longest turn (turn 4, 4.00 s).
    bars = [t.find("div", "bar").find("span").attrs["style"] for t in turns]
    assert bars == ["width: 60.0%", "width: 32.5%", "width: 20.0%", "width: 100.0%"]
    # Each turn opens its trace.
    for turn, label in zip(turns, ("turn1", "turn2", "turn3", "turn4"), strict=True):
        assert turn.find("a", "trace-link").attrs["href"] == f"/traces/{support.trace_ids[label]}"

    totals = page.find("section", "totals").text()
    assert "Turns 4" in totals and "Errors 1" in totals and "Interrupted 1" in totals
    assert "TTFT median 675 ms" in totals and "Users agent-7, user-1" in totals
    assert page.find(id="session-cost").text() == fmt_cost(support.support_cost)


def test_session_ids_of_any_shape_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    odd = "team/a b?c=1#x%"
    ui_kit.add_turn(db, odd, "hello")
    c = client(db)
    link = parse(c.get("/").text).find("td", "sid").find("a").attrs["href"]
    assert link == "/sessions/team%2Fa%20b%3Fc%3D1%23x%25"
    page = c.get(link)
    assert page.status_code == 200 and parse(page.text).find("h1").text() == odd


# --- the trace page -------------------------------------------------------------------------


def test_trace_page_is_a_waterfall_with_attributes_usage_and_cost(support: ui_kit.Support) -> None:
    c = client(support.db)
    response = c.get(f"/traces/{support.trace_ids['turn4']}")
    assert response.status_code == 200
    page = parse(response.text)
    spans = page.find("div", "waterfall").find_all("details", "span")
    assert [s.find("span", "label").text() for s in spans] == ["support-graph", "chat o3-mini"]
    root, call = spans
    assert root.find("span", "sname").attrs["style"] == "padding-left: 0px"
    assert call.find("span", "sname").attrs["style"] == "padding-left: 16px"  # a child of the root
    assert root.find("span", "wbar").attrs["style"] == "left: 0.0%; width: 100.0%"
    assert call.find("span", "wbar").attrs["style"] == "left: 0.5%; width: 97.0%"  # 20 ms in, 3.88 s of 4 s
    assert call.find("span", "ttft").attrs["style"] == "left: 25.5%"  # first token 1.02 s into the trace

    o3_cost = ui_kit.price("o3-mini", "openai", input_tokens=400, output_tokens=600)
    facts = call.find("dl", "facts").text()
    assert "Model o3-mini (openai)" in facts and "Time to first token 1.00 s" in facts
    assert f"400 in 600 out 512 reasoning {fmt_cost(o3_cost)} cost" in facts
    attributes = {tr.find("th").text(): tr.find("td").text() for tr in call.find("table", "attrs").find_all("tr")}
    assert attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == "400"
    assert attributes[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == "512"
    assert float(attributes[sc.GEN_AI_USAGE_COST]) == pytest.approx(o3_cost)
    assert attributes[sc.SESSION_ID] == "support-1"

    # The resume links back to the interrupted trace, and the crumbs to the session.
    interrupted = support.trace_ids["turn3"]
    assert page.find("p", "resume-note").find("a").attrs["href"] == f"/traces/{interrupted}"
    assert page.find("p", "crumbs").find_all("a")[1].attrs["href"] == "/sessions/support-1"

    paused = parse(c.get(f"/traces/{interrupted}").text)
    node = paused.find_all("details", "span")[1]
    assert "state-interrupted" in node.classes() and ui_kit.INTERRUPT_ID in node.find("dl", "facts").text()
    event = node.find("div", "event")
    assert sc.EVENT_INTERRUPT in event.text() and "Refund 40 EUR" in event.text()

    failed = parse(c.get(f"/traces/{support.trace_ids['turn2']}").text)
    tool = failed.find_all("details", "span")[1]
    assert "state-error" in tool.classes()
    assert "ERROR: LookupError: order service unavailable" in tool.find("dl", "facts").text()


def test_trace_page_takes_a_unique_prefix(support: ui_kit.Support) -> None:
    trace_id = support.trace_ids["sales"]
    page = parse(client(support.db).get(f"/traces/{trace_id[:12]}").text)
    assert trace_id in page.find("p", "crumbs").text()


# --- live, bad input, read-only ---------------------------------------------------------------------


def test_new_spans_appear_on_reload(support: ui_kit.Support) -> None:
    c = client(support.db)
    before = c.get("/")
    assert before.headers["cache-control"] == "no-store"
    assert len(session_rows(before.text)) == 2
    assert len(parse(c.get("/sessions/support-1").text).find_all("li", "turn")) == 4

    ui_kit.add_turn(support.db, "support-1", "one more thing")
    ui_kit.add_turn(support.db, "fresh-3", "hi")

    after = c.get("/")
    assert [r["Session"] for r in session_rows(after.text)] == ["fresh-3", "support-1", "sales-2"]
    turns = parse(c.get("/sessions/support-1").text).find_all("li", "turn")
    assert len(turns) == 5 and "one more thing" in turns[-1].text()


def test_unknown_ids_are_404_pages(support: ui_kit.Support) -> None:
    c = client(support.db)
    for url, says in (
        ("/sessions/no-such-session", "There is no session 'no-such-session'"),
        ("/traces/" + "f" * 32, "There is no trace"),
        ("/traces/not-hex", "There is no trace"),
        ("/nowhere/at/all", "Nothing lives at /nowhere/at/all"),
    ):
        response = c.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html")
        page = parse(response.text)
        assert page.find("h1").text() == "Not found" and says in page.find("section", "message").text()


def test_missing_store_is_a_clear_page_until_it_appears(tmp_path: Path) -> None:
    db = tmp_path / "later" / "traces.db"
    c = client(db)
    for url in ("/", "/sessions/x", "/traces/" + "a" * 32):
        response = c.get(url)
        assert response.status_code == 503
        page = parse(response.text)
        assert page.find("h1").text() == "No trace store yet"
        assert str(db) in page.text() and "threadline.instrument()" in page.text()
    assert not db.exists()  # the view never creates it

    ui_kit.add_turn(db, "first-1", "hello")
    assert [r["Session"] for r in session_rows(c.get("/").text)] == ["first-1"]


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    response = client(other).get("/")
    assert response.status_code == 503
    assert "not a threadline store" in parse(response.text).find("section", "message").text()


def test_read_only_no_write_route_and_no_write(support: ui_kit.Support) -> None:
    c = client(support.db)
    digest = hashlib.sha256(support.db.read_bytes()).hexdigest()
    urls = ("/", "/sessions/support-1", f"/traces/{support.trace_ids['turn1']}", "/static/ui.css")
    for url in urls:
        assert c.get(url).status_code == 200
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert c.request(method, url).status_code == 405, (method, url)
    assert hashlib.sha256(support.db.read_bytes()).hexdigest() == digest

    conn = open_readonly(support.db)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
            conn.execute("DELETE FROM spans")
    finally:
        conn.close()


def test_only_local_host_names_are_served(support: ui_kit.Support) -> None:
    app = create_app(support.db)
    assert TestClient(app, base_url="http://localhost:6175").get("/").status_code == 200
    # A page on another origin that rebinds its DNS name to 127.0.0.1 still sends its own Host.
    assert TestClient(app, base_url="http://attacker.example").get("/").status_code == 400


def test_pages_load_nothing_from_the_network(support: ui_kit.Support) -> None:
    c = client(support.db)
    for url in ("/", "/sessions/support-1", f"/traces/{support.trace_ids['turn4']}"):
        response = c.get(url)
        assert "default-src 'none'" in response.headers["content-security-policy"]
        refs = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert refs and all(r.startswith(("/", "#")) for r in refs), refs
        assert "<script" not in response.text


# --- large stores --------------------------------------------------------------------------


def test_ten_thousand_sessions_page_in_sql(tmp_path: Path) -> None:
    big, small = tmp_path / "big.db", tmp_path / "small.db"
    ui_kit.bulk_sessions(big, 10_000)
    ui_kit.bulk_sessions(small, 200)

    response = client(big).get("/?sort=-input_tokens")
    assert response.status_code == 200
    rows = session_rows(response.text)
    assert len(rows) == 50 and "10,000 sessions" in response.text
    assert {r["In"] for r in rows} == {"70"}  # the largest value first

    statements: list[str] = []
    conn = open_readonly(big)
    conn.set_trace_callback(statements.append)
    try:
        result = queries.page_sessions(conn, limit=50, offset=100, order_by="-last_trace")
    finally:
        conn.close()
    assert result.total == 10_000
    assert [s.session_id for s in result.sessions] == [f"bulk-{i:05d}" for i in range(9899, 9849, -1)]
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert reads and all("LIMIT 50 OFFSET 100" in s or "IN (" in s for s in reads)
    # The page reads the session rollups through their indexes and never touches the spans.
    for statement in reads:
        assert not re.search(r"\bspans\b", statement), statement
        plan = " ".join(str(r) for r in sqlite3.connect(big).execute("EXPLAIN QUERY PLAN " + statement))
        assert "spans" not in plan

    def steps(db: Path) -> int:
        ids = [f"bulk-{i:05d}" for i in range(50)]
        counted = [0]
        conn = open_readonly(db)
        conn.set_progress_handler(lambda: counted.__setitem__(0, counted[0] + 1) or 0, 100)
        try:
            queries.list_sessions(conn, session_ids=ids, limit=50)
        finally:
            conn.close()
        return counted[0]

    assert steps(big) < 2 * steps(small)  # 50 times the sessions, about the same work for one page


def test_pages_agree_with_the_cli_query(support: ui_kit.Support) -> None:
    """The light key query orders and filters exactly as list_sessions (threadline sessions) does."""
    ui_kit.bulk_sessions(support.db, 40)  # ties on every column but the times and ids
    day = 86400 * 10**9
    cases = [{}, {"user": "user-3"}, {"user": "agent-7"}, {"since": support.base_ns - day}, {"until": support.base_ns}]
    keys = ("last_trace", "first_trace", "duration_ms", "traces", "errors", "interrupted", "input_tokens")
    keys += ("output_tokens", "cost_usd", "session_id")
    for filters in cases:
        for key in keys:
            for order in (key, "-" + key):
                expected = queries.list_sessions(support.db, order_by=order, limit=7, offset=3, **filters)
                everything = queries.list_sessions(support.db, order_by=order, limit=None, **filters)
                page = queries.page_sessions(support.db, order_by=order, limit=7, offset=3, **filters)
                assert page.sessions == expected, (order, filters)
                assert page.total == len(everything)


# --- serving -------------------------------------------------------------------------------------


def test_server_binds_loopback_only_and_serves(support: ui_kit.Support) -> None:
    with UIServer(support.db) as server:
        assert server._socket.getsockname()[0] == "127.0.0.1"
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url + "/sessions/support-1", timeout=10) as response:
            assert response.status == 200
            assert ui_kit.RESUME_VALUE in response.read().decode()


def test_run_cli_refuses_other_hosts_and_missing_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--db", str(tmp_path / "traces.db"), "--host", "0.0.0.0", "--no-browser"]) == 2
    assert "refusing --host 0.0.0.0" in capsys.readouterr().err

    missing = tmp_path / "nothing" / "traces.db"
    assert run_cli(["--db", str(missing), "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert f"no threadline store at {missing}" in err and "threadline.instrument()" in err
    assert not missing.exists()

    assert run_cli(["--port", "not-a-number"]) == 2


def test_run_cli_reports_a_busy_port(support: ui_kit.Support, capsys: pytest.CaptureFixture[str]) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        assert run_cli(["--db", str(support.db), "--port", str(port), "--no-browser"]) == 1
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    finally:
        taken.close()


def test_run_cli_serves_on_loopback_and_opens_the_browser(
    support: ui_kit.Support, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    opened: list[str] = []
    served: list[tuple[str, int]] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url))
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: served.extend(s.getsockname() for s in sockets))
    assert run_cli(["--db", str(support.db), "--port", "0", "--host", "localhost"]) == 0
    (host, port) = served[0]
    assert host == "127.0.0.1" and opened == [f"http://127.0.0.1:{port}/"]
    assert f"serving {support.db}" in capsys.readouterr().err


# --- download ------------------------------------------------------------------------------


def test_a_session_downloads_as_json_lines_that_import_back(support: ui_kit.Support, tmp_path: Path) -> None:
    import json

    from threadline.cli import main
    from threadline.exporters.archive import import_lines

    page = client(support.db).get("/sessions/support-1")
    assert 'href="/export/support-1" download' in page.text
    response = create_app(support.db, read_only=True)  # a GET: offered in read-only mode too
    response = TestClient(response, base_url="http://127.0.0.1").get("/export/support-1")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["content-disposition"] == 'attachment; filename="support-1.jsonl"'
    assert response.headers["x-content-type-options"] == "nosniff"
    cli_copy = tmp_path / "cli.jsonl"
    assert main(["export", "session", "support-1", "--db", str(support.db), "-o", str(cli_copy)]) == 0
    assert response.text == cli_copy.read_text(encoding="utf-8")  # the same file the CLI writes
    kept = tmp_path / "kept.db"
    result = import_lines(kept, response.text.splitlines())
    assert result.skipped == 0 and result.spans == sum(
        1 for line in response.text.splitlines() if "score" not in json.loads(line)
    )
    assert [s.session_id for s in queries.list_sessions(kept)] == ["support-1"]


def test_download_of_an_unknown_session_is_404(support: ui_kit.Support) -> None:
    assert client(support.db).get("/export/nobody").status_code == 404


@pytest.mark.parametrize(
    ("session_id", "name"),
    [
        ("support-1", "support-1.jsonl"),
        ('a/b"c\r\nSet-Cookie: x=1', "a_b_c_Set-Cookie_x_1.jsonl"),
        ("../../etc/passwd", "etc_passwd.jsonl"),
        ("会话", "session.jsonl"),
        ("x" * 200, "x" * 80 + ".jsonl"),
    ],
)
def test_the_download_name_is_always_a_plain_file_name(session_id: str, name: str) -> None:
    from threadline.ui.app import download_name

    assert download_name(session_id) == name
