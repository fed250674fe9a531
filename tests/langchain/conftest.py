"""LangChain tests: the shared fake model, and a check that no run is left open after each test."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SUPPORT = "threadline_langchain_test_support"


def load_support() -> None:
    """Make ``tests/langchain/_support.py`` importable as ``threadline_langchain_test_support``."""
    if SUPPORT in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(SUPPORT, Path(__file__).with_name("_support.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[SUPPORT] = module
    spec.loader.exec_module(module)


load_support()


@pytest.fixture(autouse=True)
def _no_run_left_open() -> Iterator[None]:
    from threadline_langchain._registry import REGISTRY

    REGISTRY.clear()
    yield
    left = len(REGISTRY)
    REGISTRY.clear()
    assert left == 0, f"{left} LangChain run(s) left open in the run map"
