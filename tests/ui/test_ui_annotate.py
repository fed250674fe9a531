"""The web view's one write route: the annotate form, its origin and CSRF checks, ``--read-only``."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the ui extra is not installed (pip install 'threadline[ui]')")

from starlette.testclient import TestClient

from threadline.store.schema import open_store
from threadline.ui import create_app, run_cli

sys.path.insert(0, str(Path(__file__).parent))
import ui_kit
from ui_kit import parse, session_rows

BASE = "http://127.0.0.1:6175"
SAME_ORIGIN = {"Origin": BASE}


@pytest.fixture
def support(tmp_path: Path) -> ui_kit.Support:
    return ui_kit.record_support(tmp_path / "traces.db")


def _client(db: Path, **options) -> TestClient:
    return TestClient(create_app(db, **options), base_url=BASE, follow_redirects=False)


def _form(html: str) -> dict[str, str]:
    form = parse(html).find("form", "annotate")
    assert form.attrs["method"] == "post" and form.attrs["action"] == "/annotate"
    return {i.attrs["name"]: i.attrs.get("value", "") for i in form.find_all("input")}


def _scores(db: Path) -> list[tuple]:
    conn = open_store(db, create=False)
    try:
        return [
            tuple(r)
            for r in conn.execute("SELECT target_kind, target_id, name, data_type, comment, author, source FROM scores")
        ]
    finally:
        conn.close()


def test_a_score_added_on_the_session_page_is_listed_there_and_on_the_sessions_page(support) -> None:
    c = _client(support.db)
    fields = _form(c.get("/sessions/support-1").text)
    assert (fields["target_kind"], fields["target_id"]) == ("session", "support-1")
    assert re.fullmatch(r"[0-9a-f]{64}", fields["csrf_token"])
    response = c.post(
        "/annotate",
        data={**fields, "name": "helpful", "value": "0.5", "comment": "<b>fine</b>", "author": "ana"},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/sessions/support-1#scores"
    assert _scores(support.db) == [("session", "support-1", "helpful", "numeric", "<b>fine</b>", "ana", "annotation")]

    page = c.get("/sessions/support-1").text
    [row] = parse(page).find("table", "scores-list").find("tbody").find_all("tr")
    assert row.text().startswith("session helpful 0.5 <b>fine</b> ana annotation")
    assert "<b>fine</b>" not in page and "&lt;b&gt;fine&lt;/b&gt;" in page  # escaped, never markup

    # A trace's page: its own form and token, scores listed there and under the turn on the session page.
    trace = support.trace_ids["turn2"]
    tfields = _form(c.get(f"/traces/{trace}").text)
    assert (tfields["target_kind"], tfields["target_id"]) == ("trace", trace)
    assert tfields["csrf_token"] != fields["csrf_token"]
    response = c.post("/annotate", data={**tfields, "name": "verdict", "value": "bad"}, headers=SAME_ORIGIN)
    assert response.headers["location"] == f"/traces/{trace}#scores"
    assert "verdict bad" in parse(c.get(f"/traces/{trace}").text).find("table", "scores-list").text()
    rows = parse(c.get("/sessions/support-1").text).find("table", "scores-list").find("tbody").find_all("tr")
    assert [r.text().split(" ")[:4] for r in rows] == [
        ["session", "helpful", "0.5", "<b>fine</b>"],
        ["turn", "2", "verdict", "bad"],
    ]

    by_id = {r["Session"]: r for r in session_rows(c.get("/").text)}
    assert by_id["support-1"]["Scores"] == "helpful 0.5 · verdict bad"
    assert by_id["sales-2"]["Scores"] == "-"


@pytest.mark.parametrize(
    ("headers", "token", "status"),
    [
        ({}, "page", 403),  # neither Origin nor Referer
        ({"Origin": "http://evil.example"}, "page", 403),
        ({"Origin": "http://127.0.0.1:9999"}, "page", 403),  # another local port is another origin
        ({"Origin": "null"}, "page", 403),
        ({"Referer": "http://evil.example/x"}, "page", 403),
        ({"Referer": BASE + "/sessions/support-1"}, "page", 303),
        (SAME_ORIGIN, None, 403),
        (SAME_ORIGIN, "0" * 64, 403),
        (SAME_ORIGIN, "other-target", 403),  # a token for another page's target
        (SAME_ORIGIN, "other-process", 403),  # a token from another run of the view
    ],
)
def test_writes_need_the_same_origin_and_the_page_token(support, headers, token, status) -> None:
    c = _client(support.db)
    fields = _form(c.get("/sessions/support-1").text)
    if token is None:
        del fields["csrf_token"]
    elif token == "other-target":
        fields["csrf_token"] = _form(c.get("/sessions/sales-2").text)["csrf_token"]
    elif token == "other-process":
        fields["csrf_token"] = _form(_client(support.db).get("/sessions/support-1").text)["csrf_token"]
    elif token != "page":
        fields["csrf_token"] = token
    response = c.post("/annotate", data={**fields, "name": "helpful", "value": "1"}, headers=headers)
    assert response.status_code == status, response.text
    assert len(_scores(support.db)) == (1 if status == 303 else 0)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("", "1", "must not be empty"),
        ("helpful", "", "must not be empty"),
        ("x" * 201, "1", "at most 200"),
        ("helpful", "bad\x1bvalue", "printable"),
    ],
)
def test_bad_values_are_refused_with_the_reason(support, name, value, message) -> None:
    c = _client(support.db)
    fields = _form(c.get("/sessions/support-1").text)
    response = c.post("/annotate", data={**fields, "name": name, "value": value}, headers=SAME_ORIGIN)
    assert response.status_code == 400
    assert message in parse(response.text).find("section", "message").text()
    assert _scores(support.db) == []


def test_a_form_for_a_target_not_in_the_store_or_not_a_form_is_refused(support) -> None:
    c = _client(support.db)
    fields = _form(c.get("/sessions/support-1").text)
    # A token the app would issue for a session that does not exist (a page for it is a 404, so none is).
    fields.update(target_id="nobody", csrf_token=c.app.state.annotator.token("session", "nobody"))
    assert c.post("/annotate", data={**fields, "name": "a", "value": "1"}, headers=SAME_ORIGIN).status_code == 404
    assert (
        c.post(
            "/annotate", content=b'{"name": "a"}', headers={**SAME_ORIGIN, "Content-Type": "application/json"}
        ).status_code
        == 400
    )
    big = {**_form(c.get("/sessions/support-1").text), "name": "a", "value": "1", "comment": "x" * 20_000}
    assert c.post("/annotate", data=big, headers=SAME_ORIGIN).status_code == 400
    assert _scores(support.db) == []


def test_read_only_has_no_form_no_route_and_never_writes(support) -> None:
    c = _client(support.db, read_only=True)
    digest = hashlib.sha256(support.db.read_bytes()).hexdigest()
    for url in ("/sessions/support-1", f"/traces/{support.trace_ids['turn1']}"):
        page = parse(c.get(url).text)
        assert page.find_all("form", "annotate") == []
        assert page.find("section", "scores")  # scores are still listed
    token = _form(_client(support.db).get("/sessions/support-1").text)
    response = c.post("/annotate", data={**token, "name": "a", "value": "1"}, headers=SAME_ORIGIN)
    assert response.status_code in (404, 405)
    assert hashlib.sha256(support.db.read_bytes()).hexdigest() == digest


def test_the_cli_flag(monkeypatch, support) -> None:
    seen = {}

    class FakeServer:
        def __init__(self, config) -> None:
            seen["app"] = config.app

        def run(self, sockets) -> None:
            return None

    import uvicorn

    monkeypatch.setattr(uvicorn, "Server", FakeServer)
    assert run_cli(["--db", str(support.db), "--port", "0", "--no-browser", "--read-only"]) == 0
    assert "annotate" not in {getattr(r, "name", None) for r in seen["app"].routes}
    assert run_cli(["--db", str(support.db), "--port", "0", "--no-browser"]) == 0
    assert "annotate" in {getattr(r, "name", None) for r in seen["app"].routes}
