"""``threadline annotate`` over a store written by the real emitter: targets, bad input, hostile stored text."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from threadline import cli
from threadline.store.schema import open_store

sys.path.insert(0, os.path.dirname(__file__))

from store_kit import Scenario, record_support_sessions


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return record_support_sessions(tmp_path / "traces.db")


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _stored(db: Path) -> list[tuple[str, str, str, object]]:
    conn = open_store(db, create=False)
    try:
        rows = conn.execute("SELECT target_kind, target_id, name, coalesce(value_num, value_str) FROM scores")
        return [tuple(r) for r in rows]
    finally:
        conn.close()


def test_targets_resolve_to_a_trace_or_a_session(capsys, scenario: Scenario) -> None:
    db = str(scenario.db)
    trace = scenario.trace_ids["turn1"]
    assert run(capsys, "annotate", "chat-1", "--db", db, "--score", "helpful=1")[0] == 0
    assert run(capsys, "annotate", trace, "--db", db, "--score", "thumbs=TRUE")[0] == 0
    assert run(capsys, "annotate", trace[:12], "--db", db, "--score", "verdict=good")[0] == 0
    code, out, _ = run(capsys, "annotate", "chat-2", "--db", db, "--session", "--score", "x=-2.5e0", "--json")
    assert code == 0
    [stored] = json.loads(out)
    assert (stored["target_kind"], stored["value"], stored["data_type"], stored["source"]) == (
        "session",
        -2.5,
        "numeric",
        "annotation",
    )
    assert _stored(scenario.db) == [
        ("session", "chat-1", "helpful", 1.0),
        ("trace", trace, "thumbs", 1.0),
        ("trace", trace, "verdict", "good"),
        ("session", "chat-2", "x", -2.5),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no-such-session", "--score", "a=1"], "no trace or session 'no-such-session'"),
        (["chat-1", "--trace", "--score", "a=1"], "no trace 'chat-1'"),
        (["chat-1", "--score", "helpful"], "write NAME=VALUE"),
        (["chat-1", "--score", "=1"], "must not be empty"),
        (["chat-1", "--score", "a=1", "--comment", "bell\a"], "comment must be printable"),
        (["chat-1", "--score", "a=" + "x" * 201], "at most 200"),
    ],
)
def test_bad_annotations_are_clear_errors_and_write_nothing(capsys, scenario: Scenario, argv, message) -> None:
    code, out, err = run(capsys, "annotate", *argv, "--db", str(scenario.db))
    assert code == 1 and out == ""
    assert err.startswith("threadline: ") and message in err and "Traceback" not in err
    assert _stored(scenario.db) == []


def test_stored_text_is_printed_inert(capsys, scenario: Scenario, monkeypatch) -> None:
    # Another writer (an older release, a script) put escape sequences and Rich markup in the table.
    conn = open_store(scenario.db)
    try:
        conn.execute(
            "INSERT INTO scores (target_kind, target_id, name, value_str, data_type, comment, source, author,"
            " created_at) VALUES ('session', 'chat-1', ?, ?, 'categorical', ?, 'script', ?, 0)",
            ("[bold red]name", "\x1b[31mred\x1b[0m", "line1\nline2 \x1b]0;title\x07 [link=http://x]y[/link]", "[i]me"),
        )
    finally:
        conn.close()
    for argv in (["session", "chat-1"], ["sessions"], ["sessions", "--json"]):
        monkeypatch.setenv("COLUMNS", "220")
        code, out, _ = run(capsys, *argv, "--db", str(scenario.db))
        assert code == 0
        assert "\x1b" not in out and "\x07" not in out, argv
    code, out, _ = run(capsys, "session", "chat-1", "--db", str(scenario.db))
    assert "session: [bold red]name = [31mred[0m · “line1 line2 ]0;title [link=http://x]y[/link]” · by [i]me" in out
    code, out, _ = run(capsys, "sessions", "--db", str(scenario.db))
    assert "[bold red]name [31mred[0m" in out
