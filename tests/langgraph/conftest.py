"""LangGraph tests: no run left open and no pause remembered across tests.

The fake chat model is ``scenarios.chat_models.ScriptedChatModel``; span readers are in ``tests.kit``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


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
