"""The LangChain / LangGraph examples and the demo module run offline and leave their sessions in the store."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.kit import run_script

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def _run(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    return run_script(args, tmp_path, PYTHON)


def _rows(db: Path, sql: str, *params: Any) -> list[Any]:
    if importlib.util.find_spec("threadline.exporters.sqlite") is None:
        pytest.skip("the SQLite store (threadline.exporters.sqlite) is not built yet")
    assert db.exists()
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql, params))


ROOTS = "select name, kind, outcome, session_id, is_resume from spans where parent_span_id is null order by start_ns"


def test_langgraph_hitl_example(tmp_path: Path) -> None:
    done, db = _run([str(ROOT / "examples" / "langgraph_hitl.py")], tmp_path)
    assert "paused:  Send this email?" in done.stdout
    assert "resumed: sent (approved)" in done.stdout
    assert _rows(db, ROOTS) == [
        ("email_assistant", "graph", "interrupted", "hitl-demo-thread", 0),
        ("email_assistant", "graph", "ok", "hitl-demo-thread", 1),
    ]
    assert _rows(db, "select count(*) from spans where status_code = 'ERROR'") == [(0,)]
    ((cost,),) = _rows(db, "select sum(cost_usd) from spans")
    assert cost == pytest.approx((58 * 0.15 + 31 * 0.60) / 1e6)


def test_langchain_chain_example(tmp_path: Path) -> None:
    done, db = _run([str(ROOT / "examples" / "langchain_chain.py")], tmp_path)
    assert "assistant: Refunds are issued within 14 days of a return being received." in done.stdout
    assert "assistant: Orders over 50 EUR ship for free within the EU." in done.stdout
    assert _rows(db, ROOTS) == [("RunnableSequence", "chain", "ok", "langchain-demo-chat", 0)] * 2
    kinds = {kind for (kind,) in _rows(db, "select distinct kind from spans")}
    assert kinds == {"chain", "retrieval", "model"}
    assert _rows(db, "select count(distinct session_id), count(*) from spans where kind = 'model'") == [(1, 2)]


def test_the_demo_module_runs_standalone(tmp_path: Path) -> None:
    done, db = _run(["-m", "threadline_langgraph.demo"], tmp_path)
    assert "threadline sessions" in done.stdout
    roots = _rows(db, ROOTS)
    assert [(name, outcome, resume) for name, _, outcome, _, resume in roots] == [
        ("support_agent", "ok", 0),
        ("support_agent", "interrupted", 0),
        ("support_agent", "ok", 1),
        ("support_agent", "ok", 0),
    ]
    (session,) = {row[3] for row in roots}
    assert session in done.stdout
    assert _rows(db, "select count(*) from spans where session_id is null or session_id != ?", session) == [(0,)]
    assert _rows(db, "select count(*) from spans where status_code = 'ERROR'") == [(0,)]
