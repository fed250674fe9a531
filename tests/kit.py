"""Helpers shared by the test folders: span attributes, the content attributes, running a script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from threadline import semconv as sc

CONTENT_ATTRIBUTES = (
    sc.OI_INPUT_VALUE,
    sc.OI_OUTPUT_VALUE,
    sc.GEN_AI_INPUT_MESSAGES,
    sc.GEN_AI_OUTPUT_MESSAGES,
    sc.GEN_AI_TOOL_CALL_ARGUMENTS,
    sc.GEN_AI_TOOL_CALL_RESULT,
    sc.INTERRUPT_VALUES,
    sc.RESUME_VALUE,
)
"""The attributes that carry prompts, completions, tool I/O and human-in-the-loop values."""


def run_script(
    args: list[str], tmp_path: Path, python: str = sys.executable
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run ``python *args`` in ``tmp_path`` with its own store; it must exit 0 and log no internal error.

    Returns the finished process and the store's path (``THREADLINE_DB``).
    """
    db = tmp_path / "traces.db"
    env = {**os.environ, "THREADLINE_DB": str(db), "THREADLINE_RAISE_INTERNAL": "1"}
    env.pop("PYTEST_CURRENT_TEST", None)
    done = subprocess.run([python, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "internal error" not in done.stderr
    return done, db


def attrs(span: Any) -> dict[str, Any]:
    """A finished span's attributes as a plain dict."""
    return dict(span.attributes or {})


def parent_of(spans: Any, span: Any) -> Any:
    """The finished parent span of ``span`` (``None`` for a root)."""
    if span.parent is None:
        return None
    found = [s for s in spans.finished() if s.context.span_id == span.parent.span_id]
    return found[0] if found else None


def assert_agent_turn(span: Any, name: str, question: str, answer: str) -> None:
    """``span`` is the agent ``name``'s invocation, read as one turn from ``question`` to ``answer``."""
    a = attrs(span)
    assert a[sc.SPAN_KIND] == "agent"
    assert a[sc.GEN_AI_OPERATION_NAME] == sc.OP_INVOKE_AGENT
    assert a[sc.GEN_AI_AGENT_NAME] == name
    assert a[sc.OI_INPUT_VALUE] == question
    assert a[sc.OI_OUTPUT_VALUE] == answer


def yielded_then_returned(gen: Iterator[Any]) -> list[Any]:
    """What a caller's ``yield from gen`` sees: the items, then the generator's return value."""

    def consume() -> Iterator[Any]:
        value = yield from gen
        yield value

    return list(consume())
