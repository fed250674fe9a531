"""Scores over real LangGraph runs: a node scoring its own trace, and the demo's session annotated from the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver

import threadline
from scenarios.langgraph_apps import linear_graph
from threadline import cli
from threadline.exporters.sqlite import SQLiteSpanExporter
from threadline.store import scores as score_store
from threadline.store.results import scores_text
from threadline.store.schema import open_store
from threadline.store.sessions import score_summaries
from threadline_langgraph import demo


class State(TypedDict):
    question: str
    answer: str


def _answer(state: State) -> dict[str, str]:
    answer = f"echo: {state['question']}"
    threadline.score("grounded", len(answer) > 5, comment="checked in the node")
    return {"answer": answer}


def test_a_node_scores_the_graph_trace_it_runs_in(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=["langchain", "langgraph"])
    graph = linear_graph(State, [("answer", _answer)], checkpointer=InMemorySaver())
    graph.invoke({"question": "hi there"}, {"configurable": {"thread_id": "thread-42"}})
    assert threadline.flush(10)

    conn = open_store(db, create=False)
    try:
        traces = [r[0] for r in conn.execute("SELECT DISTINCT trace_id FROM spans WHERE session_id = 'thread-42'")]
        names = {r[0] for r in conn.execute("SELECT name FROM spans")}
        [trace_id] = traces
        [score] = score_store.scores_for(conn, "trace", trace_id)
        summary = score_summaries(conn, ["thread-42"])
    finally:
        conn.close()
    assert "threadline.score" not in names  # routed to the scores table
    assert (score.name, score.value, score.data_type, score.comment) == (
        "grounded",
        True,
        "boolean",
        "checked in the node",
    )
    assert scores_text(summary["thread-42"]) == "grounded 1"


@pytest.fixture
def demo_store(tmp_path: Path) -> Path:
    db = tmp_path / "demo.db"
    threadline.instrument(exporter=SQLiteSpanExporter(db), integrations=["langchain", "langgraph"])
    demo.run("support-demo")
    assert threadline.flush(10)
    threadline.shutdown()
    return db


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_annotate_the_demo_session_and_its_turns_from_the_cli(capsys, demo_store: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    db = str(demo_store)
    code, out, _ = _run(capsys, "session", "support-demo", "--db", db, "--json")
    turns = json.loads(out)["turns"]
    assert code == 0 and len(turns) == 4
    paused, resumed = turns[1]["trace_id"], turns[2]["trace_id"]

    code, out, err = _run(
        capsys, "annotate", "support-demo", "--db", db, "--score", "helpful=1", "--score", "verdict=good",
        "--comment", "refund handled", "--author", "lead",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "Scored session support-demo" in out and "helpful = 1 · “refund handled” · by lead" in out
    assert _run(capsys, "annotate", paused[:10], "--db", db, "--score", "helpful=0.5")[0] == 0  # a trace prefix
    assert _run(capsys, "annotate", resumed, "--db", db, "--score", "verdict=good", "--trace")[0] == 0
    assert _run(capsys, "annotate", resumed, "--db", db, "--score", "thumbs=false")[0] == 0

    code, out, _ = _run(capsys, "sessions", "--db", db)
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("support-demo"))
    assert "helpful 0.75 · thumbs 0 · verdict good×2" in row

    code, out, _ = _run(capsys, "sessions", "--db", db, "--json")
    [session] = json.loads(out)
    assert session["scores"] == [
        {"name": "helpful", "count": 2, "mean": 0.75, "categories": {}},
        {"name": "thumbs", "count": 1, "mean": 0.0, "categories": {}},
        {"name": "verdict", "count": 2, "mean": None, "categories": {"good": 2}},
    ]

    code, out, _ = _run(capsys, "session", "support-demo", "--db", db)
    block = out[out.index("\nScores\n") :]
    assert "session: helpful = 1 · “refund handled” · by lead · annotation" in block
    assert "turn 2:  helpful = 0.5 · annotation" in block
    assert "turn 3:  verdict = good · annotation" in block
    assert "turn 3:  thumbs = false · annotation" in block

    data = json.loads(_run(capsys, "session", "support-demo", "--db", db, "--json")[1])
    assert [s["name"] for s in data["scores"]] == ["helpful", "verdict"]
    assert [[s["value"] for s in t["scores"]] for t in data["turns"]] == [[], [0.5], ["good", False], []]
    assert {s["name"]: s["mean"] for s in data["session"]["scores"]}["helpful"] == 0.75

    code, out, _ = _run(capsys, "trace", resumed, "--db", db)
    assert "trace: verdict = good · annotation" in out and "trace: thumbs = false · annotation" in out
    data = json.loads(_run(capsys, "trace", resumed, "--db", db, "--json")[1])
    assert [(s["target_kind"], s["target_id"], s["value"]) for s in data["scores"]] == [
        ("trace", resumed, "good"),
        ("trace", resumed, False),
    ]
