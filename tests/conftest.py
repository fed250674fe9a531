"""Suite-wide fixtures: every test gets its own store path and a clean threadline."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import threadline
from threadline import _runtime, guard


@pytest.fixture(autouse=True)
def _isolated_threadline(tmp_path, monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("THREADLINE_DB", str(tmp_path / "traces.db"))
    monkeypatch.setenv("OPENAI_API_KEY", os.environ.get("OPENAI_API_KEY", "sk-test-not-a-real-key"))
    guard._reported.clear()  # "logged once" is per process; each test starts as a fresh process would
    yield
    threadline.uninstrument()
    _runtime.shutdown(timeout=5)
    _runtime.state.settings = _runtime.Settings()
