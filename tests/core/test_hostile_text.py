"""Stored text is hostile: the CLI and the web view never pass escape sequences, control characters or
markup from traces to a terminal or a page, and huge numbers in options are a clear message, not a traceback."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

import threadline
from threadline import cli
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.integration import current_emitter
from threadline.records import ModelCall, Run
from threadline.safe_text import UNSAFE
from threadline.usage import Usage

# A window title, a bell, a screen clear, a one-character CSI, a right-to-left override, a carriage return.
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil\r"
PROMPT = f"Where is my order? {ESCAPES} [bold]not bold[/bold]"
SESSION = "chat-[/bold]-1"
USER = "[link=http://evil.example]click me[/link]"
MODEL = "[/bold]gpt-4o-mini"
# Rich's own styling, the only escape sequences a terminal may receive (SGR: ESC [ ... m).
SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def hostile_store(tmp_path: Path) -> Path:
    db = tmp_path / "hostile.db"
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=[])
    emitter = current_emitter()
    with threadline.session(SESSION, user_id=USER):
        turn = emitter.start(Run(name=f"turn {ESCAPES}", integration="test", inputs=PROMPT, outputs=PROMPT))
        call = emitter.start(
            ModelCall(
                name="chat",
                integration="test",
                request_model=MODEL,
                inputs=PROMPT,
                usage=Usage(input_tokens=12, output_tokens=3),
            ),
            parent=turn,
        )
        emitter.end(call, error=ValueError(PROMPT))
        emitter.end(turn)
    threadline.shutdown(10)
    return db


@pytest.fixture(autouse=True)
def _wide_plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def _unsafe(out: str) -> list[str]:
    return sorted({repr(c) for c in UNSAFE.findall(SGR.sub("", out))})


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_a_session_replay_sends_no_escape_sequence_to_the_terminal(
    hostile_store: Path, terminal: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if terminal:
        monkeypatch.setenv("FORCE_COLOR", "1")  # Rich then writes as to a terminal: styles, links
    assert cli.main(["session", SESSION, "--db", str(hostile_store)]) == 0
    out = capsys.readouterr().out
    assert _unsafe(out) == []
    assert "\x1b]" not in out  # no operating-system command: title, hyperlink
    if not terminal:
        assert "\x1b" not in out
    assert "Where is my order? ]0;pwned[2J31mevil" in SGR.sub("", out)  # the text is there, minus the controls
    assert "[bold]not bold[/bold]" in SGR.sub("", out)  # markup in a prompt is shown as typed


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
@pytest.mark.parametrize("command", [["sessions"], ["traces"]])
def test_stored_ids_and_model_names_are_never_rich_markup(
    hostile_store: Path,
    terminal: bool,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if terminal:
        monkeypatch.setenv("FORCE_COLOR", "1")
    assert cli.main([*command, "--db", str(hostile_store)]) == 0  # a "[/bold]" id once crashed it
    out = SGR.sub("", capsys.readouterr().out)
    assert SESSION in out
    if command == ["sessions"]:
        assert USER in out and MODEL in out  # shown as stored, not turned into a link or a style
    assert "\x1b]8;" not in out  # no hyperlink
    assert _unsafe(out) == []


def test_a_trace_tree_sends_no_escape_sequence(hostile_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["traces", "--db", str(hostile_store), "--json"]) == 0
    (trace,) = json.loads(capsys.readouterr().out)
    assert cli.main(["trace", trace["trace_id"], "--db", str(hostile_store)]) == 0
    out = capsys.readouterr().out
    assert _unsafe(out) == [] and "\x1b" not in out
    assert "ERROR: ValueError: Where is my order?" in out


def test_json_output_escapes_what_a_terminal_would_run_and_keeps_the_data(
    hostile_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["session", SESSION, "--db", str(hostile_store), "--json"]) == 0
    out = capsys.readouterr().out
    assert _unsafe(out) == []
    detail = json.loads(out)
    assert detail["turns"][0]["input"] == PROMPT  # the same data, every character of it


def test_the_inert_console_renders_markup_as_text() -> None:
    buffer = io.StringIO()
    console = cli.make_console(buffer)
    console.print(f"{USER} {MODEL} {ESCAPES}")
    assert buffer.getvalue() == f"{USER} {MODEL} ]0;pwned[2J31mevil\n"


# --- huge numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--limit", "--offset"])
def test_a_huge_count_is_a_clear_usage_error(
    hostile_store: Path, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["sessions", "--db", str(hostile_store), option, "100000000000000000000"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: 100000000000000000000 is out of range (0 to 1,000,000,000)" in err


@pytest.mark.parametrize("command", [["sessions"], ["traces"]])
@pytest.mark.parametrize("since", ["-99999999999d", "-99999999999999999999w", "0001-01-01"])
def test_a_time_out_of_range_is_a_clear_message(
    hostile_store: Path, command: list[str], since: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main([*command, "--db", str(hostile_store), "--since", since])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if since == "0001-01-01":  # at the edge of what a local time can be: read, or a clear message
        assert code == 0 or (code == 1 and err.startswith("threadline: --since: ")), err
        return
    assert code == 1
    assert err.startswith("threadline: --since: the time") and "out of range" in err


def test_the_web_view_refuses_huge_numbers_with_a_400(hostile_store: Path) -> None:
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from threadline.ui import create_app

    client = TestClient(create_app(hostile_store), base_url="http://127.0.0.1")
    for query, message in [
        ("page=10000000000000000000", "page: 10000000000000000000 is out of range"),
        ("since=-99999999999d", "since: the time &#39;-99999999999d&#39; is out of range"),
        ("until=-99999999999999999999w", "until: the time"),
        ("page=not-a-number", "page: expected a whole number"),
    ]:
        response = client.get(f"/?{query}")
        assert response.status_code == 400, query
        assert message in response.text, (query, response.text[-2000:])
    assert client.get("/?page=0").status_code == 200  # the first page, as before
    assert client.get("/?page=2").status_code == 200  # past the end: an empty page


def test_the_web_view_sends_no_control_character(hostile_store: Path) -> None:
    pytest.importorskip("starlette")
    from urllib.parse import quote

    from starlette.testclient import TestClient

    from threadline.ui import create_app

    client = TestClient(create_app(hostile_store), base_url="http://127.0.0.1")
    listing = client.get("/")
    session = client.get("/sessions/" + quote(SESSION, safe=""))
    trace_link = re.search(r'href="(/traces/[0-9a-f]+)"', session.text)
    assert trace_link is not None
    trace = client.get(trace_link.group(1))
    for page in (listing, session, trace):
        assert page.status_code == 200
        assert _unsafe(page.text) == []
        assert "[link=http://evil.example]click me[/link]" in page.text or page is not listing
    assert "Where is my order? ]0;pwned[2J31mevil" in session.text
