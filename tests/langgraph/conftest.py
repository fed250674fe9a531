"""LangGraph tests: the shared fake model, no run left open and no pause remembered across tests."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SUPPORT = "threadline_langchain_test_support"

if SUPPORT not in sys.modules:
    _spec = importlib.util.spec_from_file_location(SUPPORT, Path(__file__).parents[1] / "langchain" / "_support.py")
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[SUPPORT] = _module
    _spec.loader.exec_module(_module)


@pytest.fixture(autouse=True)
def _clean_langgraph_state() -> Iterator[None]:
    from threadline_langchain._registry import REGISTRY
    from threadline_langgraph._pending import PENDING

    REGISTRY.clear()
    PENDING.clear()
    yield
    left = len(REGISTRY)
    REGISTRY.clear()
    PENDING.clear()
    assert left == 0, f"{left} LangChain/LangGraph run(s) left open in the run map"
