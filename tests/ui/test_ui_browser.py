"""The web view in a real headless Chromium (Debian's ``chromium``), driven by playwright.

Opens the sessions page, clicks a session, checks the interrupted and resumed
turns and the rail that pairs them, opens the resumed turn's trace and one of
its spans; then adds a score with the annotate form and sees it listed on the session page and in
the sessions table; then searches, opens a hit, and draws the dashboard. Screenshots go to
``test-artifacts/ui-*.png``. Every request the browser makes must stay on the local server, and the
page must log no error
(a Content-Security-Policy violation would).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium) for the browser test",
        allow_module_level=True,
    )
pytest.importorskip("starlette", reason="the ui extra is not installed (pip install 'threadline[ui]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (./dev sync)")

from threadline.ui import UIServer  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import ui_kit  # noqa: E402


@dataclass
class Browser:
    """A Chromium page on a running view, with every request it made and every error it logged."""

    server: UIServer
    page: Any
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@contextlib.contextmanager
def browse(db: Path, profile: Path, *, expected_problems: tuple[str, ...] = (), **options: Any) -> Iterator[Browser]:
    """Serve ``db`` and open a headless Chromium page on it; afterwards, check it stayed local and error-free
    (but for ``expected_problems``, the console errors a test provokes on purpose)."""
    ARTIFACTS.mkdir(exist_ok=True)
    with UIServer(db, **options) as server, sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            b = Browser(server, page)
            page.on("request", lambda r: b.requests.append(r.url))
            page.on("console", lambda m: b.problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: b.problems.append(str(e)))
            yield b
        finally:
            context.close()
    assert b.requests and all(url.startswith(server.url + "/") for url in b.requests), b.requests
    assert b.problems == list(expected_problems)
    shutil.rmtree(profile, ignore_errors=True)


def test_browse_sessions_to_an_interrupted_turn_and_its_trace(tmp_path: Path) -> None:
    support = ui_kit.record_support(tmp_path / "traces.db")
    with browse(support.db, tmp_path / "chromium-profile") as b:
        page, server = b.page, b.server
        page.goto(server.url + "/")
        rows = page.locator("table.sessions tbody tr")
        assert rows.count() == 2
        assert page.locator("#session-count").inner_text() == "2 sessions"
        page.screenshot(path=str(ARTIFACTS / "ui-sessions.png"), full_page=True)

        page.get_by_role("link", name="support-1", exact=True).click()
        page.wait_for_url("**/sessions/support-1")
        assert page.locator("li.turn").count() == 4
        paused = page.locator("li#turn-3")
        resumed = page.locator("li#turn-4")
        assert paused.get_attribute("data-outcome") == "interrupted"
        assert resumed.get_attribute("data-outcome") == "resumed"
        assert paused.locator(".interrupt-note").is_visible()
        assert "answered in turn 4" in paused.locator(".interrupt-note").inner_text()
        assert "Resumes turn 3" in resumed.locator(".resume-note").inner_text()
        assert ui_kit.RESUME_VALUE in resumed.inner_text()
        # The rail joining the pair is drawn: it spans from turn 3 down to turn 4.
        start = paused.locator(".rail.start").bounding_box()
        end = resumed.locator(".rail.end").bounding_box()
        assert start is not None and end is not None and start["height"] > 0 and end["y"] > start["y"]
        assert page.locator("li#turn-2").get_attribute("data-outcome") == "error"
        page.screenshot(path=str(ARTIFACTS / "ui-session.png"), full_page=True)

        resumed.locator("a.trace-link").click()
        page.wait_for_url(f"**/traces/{support.trace_ids['turn4']}")
        spans = page.locator("details.span")
        assert spans.count() == 2
        call = spans.nth(1)
        assert not call.locator("table.attrs").is_visible()
        call.locator("summary").click()
        assert call.locator("table.attrs").is_visible()
        assert "gen_ai.usage.reasoning.output_tokens" in call.locator("table.attrs").inner_text()
        bar = call.locator(".wbar").bounding_box()
        track = call.locator(".track").bounding_box()
        assert bar is not None and track is not None and bar["width"] > 0.9 * track["width"]
        page.screenshot(path=str(ARTIFACTS / "ui-trace.png"), full_page=True)

        page.locator("p.resume-note a").click()  # back to the interrupted trace
        page.wait_for_url(f"**/traces/{support.trace_ids['turn3']}")
        assert page.locator(".page-head .badge").first.inner_text() == "interrupted"

    for name in ("ui-sessions.png", "ui-session.png", "ui-trace.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000


def test_annotate_a_session_in_the_browser_and_see_the_score_listed(tmp_path: Path) -> None:
    support = ui_kit.record_support(tmp_path / "traces.db")
    with browse(support.db, tmp_path / "chromium-profile") as b:
        page, server = b.page, b.server
        page.goto(server.url + "/sessions/support-1")
        assert "No scores on this session yet." in page.locator("section#scores").inner_text()
        form = page.locator("form.annotate")
        form.get_by_label("Name").fill("helpful")
        form.get_by_label("Value").fill("1")
        form.get_by_label("Comment").fill("<script>alert(1)</script> solved the refund")
        form.get_by_label("Author").fill("qa-lead")
        form.get_by_role("button", name="Add score").click()
        page.wait_for_url("**/sessions/support-1#scores")

        row = page.locator("table.scores-list tbody tr")
        assert row.count() == 1
        assert row.locator(".score-name").inner_text() == "helpful"
        assert row.locator(".score-value").inner_text() == "1"
        assert row.locator(".score-comment").inner_text() == "<script>alert(1)</script> solved the refund"
        assert "qa-lead" in row.inner_text()
        page.screenshot(path=str(ARTIFACTS / "ui-annotate.png"), full_page=True)

        # The sessions page sums it up in its Scores column.
        page.get_by_role("link", name="Sessions", exact=True).first.click()
        page.wait_for_url(server.url + "/")
        scores = page.locator("table.sessions tbody tr", has_text="support-1").locator("td.scores")
        assert scores.inner_text() == "helpful 1"


def test_search_open_a_hit_and_see_the_dashboard(tmp_path: Path) -> None:
    support = ui_kit.record_support(tmp_path / "traces.db")
    # The bad query's page is a 400 (as intended), which Chromium logs; nothing else may be logged.
    bad_query = "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    with browse(support.db, tmp_path / "chromium-profile", expected_problems=(bad_query,)) as b:
        page, server = b.page, b.server
        page.goto(server.url + "/")
        page.locator("form.search-form input[name=q]").fill("refund")
        page.locator("form.search-form button").click()
        page.wait_for_url("**/search?q=refund")
        hits = page.locator("li.hit")
        assert hits.count() == 2
        assert hits.first.locator("mark").first.inner_text() == "refund"
        page.screenshot(path=str(ARTIFACTS / "ui-search.png"), full_page=True)

        hits.nth(1).locator("a.hit-link").click()  # the turn that paused to ask for the refund
        page.wait_for_url(f"**/traces/{support.trace_ids['turn3']}")
        assert page.locator(".page-head .badge").first.inner_text() == "interrupted"

        page.goto(server.url + "/sessions/support-1")
        page.locator("form.search-form input[name=q]").fill('"order 1234"')
        page.locator("form.search-form button").click()
        page.wait_for_url("**/search?**session=support-1**")
        assert page.locator("li.hit").count() == 3

        page.locator("form.search-form input[name=q]").fill("order 1234?")
        page.locator("form.search-form button").click()
        assert "double quotes" in page.locator("#search-problem").inner_text()

        page.locator("header.topbar nav a", has_text="Traces").click()
        page.wait_for_url("**/traces")
        assert page.locator("table.traces tbody tr").count() == 6

        page.locator("header.topbar nav a", has_text="Dashboard").click()
        page.wait_for_url("**/dashboard")
        for chart in ("#chart-cost", "#chart-tokens", "#chart-traces", "#chart-latency"):
            box = page.locator(f"{chart} svg").bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 80
        assert page.locator("#chart-cost rect").count() == 3  # one segment per model, all on today's bar
        page.screenshot(path=str(ARTIFACTS / "ui-dashboard.png"), full_page=True)

    for name in ("ui-search.png", "ui-dashboard.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000
