"""Fixtures for the LlamaIndex integration tests (the scripted LLM lives in ``li_kit``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from llama_index.core.embeddings import MockEmbedding

from threadline import guard
from threadline.testing import CapturedSpans, capture

sys.path.insert(0, os.path.dirname(__file__))

from li_kit import ScriptedLLM


@pytest.fixture
def spans() -> Iterator[CapturedSpans]:
    """Capture the spans of the LlamaIndex integration alone."""
    with capture(integrations=["llamaindex"]) as captured:
        yield captured


@pytest.fixture(autouse=True)
def _no_internal_errors() -> Iterator[None]:
    """The dispatcher swallows handler exceptions: fail on any internal error threadline counted."""
    before = guard.failure_count
    yield
    assert guard.failure_count == before, "threadline reported an internal error (see the log)"


@pytest.fixture
def embed_model() -> MockEmbedding:
    return MockEmbedding(embed_dim=8)


@pytest.fixture
def llm() -> ScriptedLLM:
    return ScriptedLLM()
