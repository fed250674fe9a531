"""The ``threadline`` CLI over a store filled by the real emitter: sessions, replay, tree, JSON, errors, demo."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from threadline import cli

sys.path.insert(0, os.path.dirname(__file__))

from store_kit import INTERRUPT_PAYLOAD, RESUME_VALUE, Scenario, record_support_sessions

THREADLINE = Path(sys.executable).with_name("threadline")  # the console script of the running environment
WIDTH = 100


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return record_support_sessions(tmp_path / "traces.db")


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch) -> None:
    # What a user's 100-column terminal would be; captured stdout is not a TTY, so no colour either way.
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_plain(out: str) -> None:
    assert "\x1b[" not in out, "no colour codes when not a terminal"
    too_wide = [line for line in out.splitlines() if len(line) > WIDTH]
    assert not too_wide, too_wide


def _cost(value: float) -> str:
    return cli.fmt_cost(value)


def test_sessions_table(capsys, scenario: Scenario) -> None:
    code, out, err = run(capsys, "sessions", "--db", str(scenario.db))
    assert code == 0, err
    _assert_plain(out)
    lines = out.splitlines()
    header = lines[0].split()
    assert header == ["Session", "First/Last", "Dur", "Traces", "Err", "Int", "In", "Out", "Cached", "Reason",
                      "Cost", "TTFT"]  # fmt: skip
    row = next(i for i, line in enumerate(lines) if line.startswith("chat-1 "))
    cells = lines[row].split()
    assert cells[0] == "chat-1"
    traces, errors, interrupted = cells[-10:-7]
    assert (traces, errors, interrupted) == ("4", "1", "1")
    assert cells[-7:-3] == ["4,500", "1,100", "3,024", "512"]
    assert cells[-3] == _cost(scenario.expected_cost) == "$0.0106"
    assert " ".join(cells[-2:]) == "210 ms"
    # Under the id: the users, then one line per model (the last trace's time sits beside the users).
    assert lines[row + 1].startswith("agent-7, user-1 ")
    assert [line.split()[0] for line in lines[row + 2 : row + 5]] == [
        "claude-sonnet-4-5",
        "gpt-4o-mini-2024-07-18",
        "o3-mini",
    ]
    assert row > next(i for i, line in enumerate(lines) if line.startswith("chat-2 ")), "most recent first"
    assert "TTFT: median time to first" in out


def test_sessions_table_on_a_wide_terminal(capsys, scenario: Scenario, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "180")
    code, out, _ = run(capsys, "sessions", "--db", str(scenario.db))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:9] == ["Session", "First", "Last", "Dur", "Traces", "Err", "Int", "Users", "Models"]
    chat1 = next(line for line in lines if line.startswith("chat-1 "))
    assert "agent-7, user-1" in chat1 and "claude-sonnet-4-5" in chat1 and "$0.0106" in chat1


def test_sessions_filters_and_json(capsys, scenario: Scenario) -> None:
    code, out, _ = run(capsys, "sessions", "--db", str(scenario.db), "--user", "user-3", "--json")
    assert code == 0
    data = json.loads(out)
    assert [s["session_id"] for s in data] == ["chat-2"]

    code, out, _ = run(capsys, "sessions", "--db", str(scenario.db), "--json", "--since", "-1h")
    rows = {s["session_id"]: s for s in json.loads(out)}
    assert set(rows) == {"chat-1", "chat-2"}
    chat1 = rows["chat-1"]
    assert (chat1["traces"], chat1["errors"], chat1["interrupted"]) == (4, 1, 1)
    assert chat1["users"] == ["agent-7", "user-1"]
    assert chat1["cost_usd"] == pytest.approx(scenario.expected_cost, abs=1e-9)
    assert chat1["ttft_median_ms"] == pytest.approx(210.0)
    assert chat1["first_trace"].endswith("Z") and chat1["duration_ms"] > 0

    code, out, _ = run(capsys, "sessions", "--db", str(scenario.db), "--since", "2999-01-01")
    assert code == 0 and "No sessions" in out
    code, out, _ = run(capsys, "sessions", "--db", str(scenario.db), "--json", "--limit", "1")
    assert [s["session_id"] for s in json.loads(out)] == ["chat-2"]


def test_session_replay(capsys, scenario: Scenario) -> None:
    code, out, err = run(capsys, "session", "chat-1", "--db", str(scenario.db))
    assert code == 0, err
    _assert_plain(out)
    assert out.startswith("Session chat-1\n")
    assert "  4 turns · 1 error · 1 interrupted · " in out
    assert "  users: agent-7, user-1 · models: claude-sonnet-4-5, gpt-4o-mini-2024-07-18, o3-mini" in out
    assert (
        f"in 4,500 (cached 3,024, cache write 500) · out 1,100 (reasoning 512) · {_cost(scenario.expected_cost)}" in out
    )
    assert "  time to first token (median): 210 ms" in out
    turns = out.split("\nTurn ")[1:]
    assert [t.split(" · ")[0] for t in turns] == ["1", "2", "3", "4"]
    assert [t.split(" · ")[2] for t in turns] == ["ok", "error", "interrupted", "resumed"]

    one, two, three, four = turns
    assert f"  usage:  in 1,500 (cached 1,024) · out 200 · {_cost(scenario.spans_cost('turn1'))}" in one.splitlines()
    assert "  input:  What is 2 + 2?" in one.splitlines()
    assert "  output: 2 + 2 = 4" in one.splitlines()
    assert "error:  execute_tool order_lookup: LookupError: order service unavailable" in two
    payload = json.dumps(INTERRUPT_PAYLOAD, separators=(", ", ": "))
    assert f"  interrupted: {payload}" in three.splitlines()
    assert "  input:       Refund order 1234" in three.splitlines()
    assert "error:" not in three, "an interrupted turn shows its interrupt, not an error"
    assert f"  resumed with: {RESUME_VALUE}" in four.splitlines()
    assert "  output:       Refunded 40 EUR." in four.splitlines()
    assert f"trace {scenario.trace_ids['turn4'][:12]}" in four


def test_session_json(capsys, scenario: Scenario) -> None:
    code, out, _ = run(capsys, "session", "chat-1", "--db", str(scenario.db), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["session"]["session_id"] == "chat-1"
    assert [t["outcome"] for t in data["turns"]] == ["ok", "error", "interrupted", "resumed"]
    assert data["turns"][2]["interrupts"] == [{"id": "int-1", "value": INTERRUPT_PAYLOAD}]
    assert data["turns"][3]["resume_value"] == RESUME_VALUE


def test_trace_tree(capsys, scenario: Scenario) -> None:
    trace_id = scenario.trace_ids["turn1"]
    code, out, err = run(capsys, "trace", trace_id[:12], "--db", str(scenario.db))
    assert code == 0, err
    _assert_plain(out)
    lines = out.splitlines()
    assert lines[0] == f"Trace {trace_id}  ok"
    assert "session chat-1 · user user-1" in lines[1] and "3 spans" in lines[1]
    assert lines[2] == f"  in 1,500 (cached 1,024) · out 200 · {_cost(scenario.spans_cost('turn1'))}"
    assert lines[3].startswith("handle-turn  observe")
    assert lines[4].startswith("└── chat gpt-4o-mini  model")
    assert lines[5].startswith("    └── chat gpt-4o-mini  model")
    assert "in 1,500 (cached 1,024) · out 200 · $" in lines[5]
    assert "TTFT 120 ms" in lines[5]
    assert "in 1,500" not in lines[4], "the wrapper's copy of the usage is not shown as its own"

    code, out, _ = run(capsys, "trace", scenario.trace_ids["turn3"], "--db", str(scenario.db))
    assert code == 0
    assert "ERROR: TimeoutError: fraud service timed out" in out
    assert "approve  node" in out and "interrupted (int-1)" in out


def test_trace_json(capsys, scenario: Scenario) -> None:
    code, out, _ = run(capsys, "trace", scenario.trace_ids["turn2"], "--db", str(scenario.db), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["trace"]["outcome"] == "error"
    assert [s["depth"] for s in data["spans"]] == [0, 1, 1]
    tool = next(s for s in data["spans"] if s["kind"] == "tool")
    assert tool["status_code"] == "ERROR"
    assert any(e["name"] == "exception" for e in tool["events"])


def test_traces_list(capsys, scenario: Scenario) -> None:
    code, out, _ = run(capsys, "traces", "--db", str(scenario.db), "--session", "chat-1")
    assert code == 0
    _assert_plain(out)
    assert sum(1 for line in out.splitlines() if "chat-1" in line) == 4
    code, out, _ = run(capsys, "traces", "--db", str(scenario.db), "--json")
    assert len(json.loads(out)) == 6


def test_missing_store_is_a_clear_error(capsys, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "traces.db"
    for argv in (["sessions"], ["session", "chat-1"], ["trace", "abc"], ["traces"]):
        code, out, err = run(capsys, *argv, "--db", str(missing))
        assert code == 1
        assert out == ""
        assert f"no threadline store at {missing}" in err
        assert "threadline.instrument()" in err
    assert not missing.parent.exists(), "reading never creates a store"


def test_unknown_ids_are_clear_errors(capsys, scenario: Scenario) -> None:
    code, out, err = run(capsys, "session", "nope", "--db", str(scenario.db))
    assert (code, out) == (1, "")
    assert "no session 'nope'" in err
    code, out, err = run(capsys, "trace", "ffffffffffffffffffffffffffffffff", "--db", str(scenario.db))
    assert (code, out) == (1, "")
    assert "no trace 'ffffffffffffffffffffffffffffffff'" in err


def test_foreign_store_and_bad_arguments(capsys, tmp_path: Path, scenario: Scenario) -> None:
    foreign = tmp_path / "app.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    code, _, err = run(capsys, "sessions", "--db", str(foreign))
    assert code == 1 and "not a threadline store" in err
    code, _, err = run(capsys, "sessions", "--db", str(scenario.db), "--since", "last tuesday")
    assert code == 1 and "--since" in err
    code, _, err = run(capsys, "sessions", "--db", str(scenario.db), "--order", "bogus")
    assert code == 1 and "cannot order by" in err
    assert cli.main([]) == 2


def test_store_from_environment(capsys, scenario: Scenario, monkeypatch) -> None:
    monkeypatch.setenv("THREADLINE_DB", str(scenario.db))
    code, out, _ = run(capsys, "sessions", "--json")
    assert code == 0 and len(json.loads(out)) == 2


def test_console_script_smoke(scenario: Scenario) -> None:
    exe = str(THREADLINE) if THREADLINE.exists() else None
    argv = [exe] if exe else [sys.executable, "-m", "threadline.cli"]
    env = {**os.environ, "COLUMNS": str(WIDTH)}
    done = subprocess.run([*argv, "session", "chat-1", "--db", str(scenario.db)], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"resumed with: {RESUME_VALUE}" in done.stdout
    assert "\x1b[" not in done.stdout
    done = subprocess.run([*argv, "session", "nope", "--db", str(scenario.db)], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    assert done.returncode == 1 and "no session 'nope'" in done.stderr


def test_formatting_helpers() -> None:
    assert cli.fmt_tokens(None) == "-"
    assert cli.fmt_tokens(1500) == "1,500"
    assert cli.fmt_tokens(12_345) == "12.3k"
    assert cli.fmt_tokens(2_500_000) == "2.5M"
    assert cli.fmt_cost(None) == "-"
    assert cli.fmt_cost(0.000268) == "$0.000268"
    assert cli.fmt_cost(1.23456) == "$1.2346"
    assert cli.fmt_duration(850) == "850 ms"
    assert cli.fmt_duration(1250) == "1.25 s"
    assert cli.fmt_duration(185_000) == "3m 05s"
    assert cli.readable('{"messages": [{"role": "user", "content": "hi"}]}', last_only=False) == "hi"
    state = {
        "messages": [{"type": "human", "content": "hi"}, {"type": "ai", "content": [{"type": "text", "text": "yo"}]}]
    }
    assert cli.readable(json.dumps(state), last_only=True) == "yo"
    assert cli.readable('{"question": "x"}', last_only=True) == '{"question": "x"}'
    assert cli.readable("plain text", last_only=True) == "plain text"


# --- demo ------------------------------------------------------------------------------------------------


def test_demo_without_the_langgraph_demo_module(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(cli, "DEMO_MODULE", "threadline_not_installed_anywhere.demo")
    code, out, err = run(capsys, "demo", "--db", str(tmp_path / "demo.db"))
    assert code == 1 and out == ""
    assert "the demo needs threadline_not_installed_anywhere.demo" in err
    assert not (tmp_path / "demo.db").exists()


FAKE_DEMO = textwrap.dedent(
    """
    import threadline
    from threadline.integration import current_emitter
    from threadline.records import GraphPause, GraphResume, Interrupt, Run, SpanKind

    def run():
        emitter = current_emitter()
        with threadline.session("demo-thread-1", user_id="demo-user"):
            graph = emitter.start(Run(name="demo-graph", run_kind=SpanKind.GRAPH, inputs="Book a flight"))
            node = emitter.start(Run(name="confirm", run_kind=SpanKind.NODE), parent=graph)
            emitter.pause(node, GraphPause(interrupts=[Interrupt(id="demo-int", value="Book flight LH123?")]))
            emitter.end(node)
            emitter.end(graph)
            resume = emitter.start(
                Run(name="demo-graph", run_kind=SpanKind.GRAPH, resume=GraphResume(["demo-int"], value="yes"))
            )
            resume.record.outputs = "Booked LH123."
            emitter.end(resume)
        return ["demo-thread-1"]
    """
)


def test_demo_flow_with_a_stand_in_module(capsys, tmp_path: Path, monkeypatch) -> None:
    """The demo command's own steps (instrument, run, flush, table, replays) with a stand-in graph module."""
    package = tmp_path / "fake_demo_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "demo.py").write_text(FAKE_DEMO)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "DEMO_MODULE", "fake_demo_pkg.demo")
    monkeypatch.setattr(cli, "DEMO_INTEGRATIONS", ())
    db = tmp_path / "demo.db"
    code, out, err = run(capsys, "demo", "--db", str(db))
    assert code == 0, err
    _assert_plain(out)
    assert f"Demo traces written to {db}" in out
    assert "demo-thread-1" in out.split("Session chat", 1)[0]
    assert "Session demo-thread-1" in out
    assert "  interrupted: Book flight LH123?" in out.splitlines()
    assert "  resumed with: yes" in out.splitlines()
    assert "  output:       Booked LH123." in out.splitlines()


def _demo_installed() -> bool:
    try:
        return importlib.util.find_spec(cli.DEMO_MODULE) is not None
    except (ImportError, ValueError):
        return False


@pytest.mark.skipif(not _demo_installed(), reason="threadline_langgraph.demo (the real demo) is not installed yet")
def test_real_demo(capsys, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    code, out, err = run(capsys, "demo", "--db", str(db))
    assert code == 0, err
    assert f"Demo traces written to {db}" in out
    from threadline.store import queries

    sessions = queries.list_sessions(db)
    assert sessions, "the demo recorded no session"
    for s in sessions:
        assert f"Session {s.session_id}" in out
    assert "Turn 1 · " in out
