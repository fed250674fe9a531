"""Fixtures of the reliability suite (helpers live in ``rel_kit``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import rel_kit  # noqa: E402


@pytest.fixture
def production_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Internal errors are logged and swallowed, as in production (not re-raised as under pytest)."""
    monkeypatch.setenv("THREADLINE_RAISE_INTERNAL", "0")


@pytest.fixture
def backend() -> rel_kit.FakeOpenAI:
    """The mock OpenAI API."""
    return rel_kit.FakeOpenAI()


@pytest.fixture(autouse=True)
def _fresh_openai_chains() -> Iterator[None]:
    """No test sees another's ``previous_response_id`` chains."""
    try:
        from threadline_openai._sessions import chains
    except ImportError:
        yield
        return
    chains.clear()
    yield
    chains.clear()


@pytest.fixture(autouse=True)
def _fresh_run_maps() -> Iterator[None]:
    """Each test starts with empty LangChain / LangGraph run maps (tests that break telemetry on purpose leak)."""
    maps = []
    try:
        from threadline_langchain._registry import REGISTRY

        maps.append(REGISTRY)
        from threadline_langgraph._pending import PENDING

        maps.append(PENDING)
    except ImportError:
        pass
    for m in maps:
        m.clear()
    yield
    for m in maps:
        m.clear()
