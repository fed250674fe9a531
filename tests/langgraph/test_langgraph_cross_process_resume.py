"""A graph paused in one process and resumed in another (SQLite checkpointer): the store joins the pair."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from threadline.store import queries

pytest.importorskip("langgraph.checkpoint.sqlite")

APP = Path(__file__).with_name("cross_process_app.py")
ROOT = Path(__file__).parents[2]  # the repository root: the app imports the shared scenario apps


def _run(phase: str, tmp_path: Path) -> str:
    env = {**os.environ, "THREADLINE_DB": str(tmp_path / "traces.db"), "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_CURRENT_TEST", None)
    proc = subprocess.run(
        [sys.executable, str(APP), phase, str(tmp_path / "traces.db"), str(tmp_path / "checkpoints.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_resume_in_another_process_names_the_interrupt_it_answers(tmp_path: Path) -> None:
    assert _run("pause", tmp_path) == "paused"
    assert _run("resume", tmp_path) == "resumed send it"

    detail = queries.get_session(tmp_path / "traces.db", "ticket-7")
    assert detail is not None
    paused, resumed = detail.turns
    assert paused.outcome == "interrupted" and [i.value for i in paused.interrupts][0]["question"] == "Send it?"
    (interrupt_id,) = [i.id for i in paused.interrupts]
    assert resumed.is_resume and resumed.resume_value == "send it"
    # The resuming process never saw the pause; the store joins them by the checkpoint they share.
    assert resumed.resume_interrupt_ids == (interrupt_id,)
    assert detail.summary.interrupted == 1 and detail.summary.errors == 0
