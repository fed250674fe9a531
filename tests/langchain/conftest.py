"""LangChain tests: a check that no run is left open after each test.

The fake chat model is ``scenarios.chat_models.ScriptedChatModel``; span readers are in ``tests.kit``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_run_left_open() -> Iterator[None]:
    from threadline_langchain._registry import REGISTRY

    REGISTRY.clear()
    yield
    left = len(REGISTRY)
    REGISTRY.clear()
    assert left == 0, f"{left} LangChain run(s) left open in the run map"
