"""The rendered messages kept for reuse hold user content: bounded in size, let go on uninstrument and when off.

The cache's size is measured on its own contents (the text in its keys and
its fragments); the span's input text is compared with the core's rendering
of the plain message view, as in ``test_langchain_prompt_text``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

import threadline
from scenarios.chat_models import MODEL, ScriptedChatModel
from tests.kit import attrs
from threadline import semconv as sc
from threadline.content import DEFAULT_MAX_CHARS, ContentPolicy
from threadline.testing import capture
from threadline_langchain import _messages
from threadline_langchain._extract import messages_view

PROMPT = "You are the support assistant of a shop. Follow these rules carefully. " * 1_500  # ~100 KB
CALLS = 60


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    _messages.forget()
    yield
    _messages.forget()


def _retained() -> int:
    """Characters the cache holds: the text in its keys and its fragments."""

    def text_in(value: Any) -> int:
        if isinstance(value, str):
            return len(value)
        if isinstance(value, tuple):
            return sum(map(text_in, value))
        return 0

    return sum(text_in(key) + len(fragment) for key, fragment in _messages._cache.items())


def _expected(messages: list[Any]) -> str | None:
    return ContentPolicy().text(messages_view(messages))[0]


def _invoke(messages: list[Any]) -> None:
    ScriptedChatModel(script=["ok"]).invoke(messages)


def _input_text(spans: Any) -> str | None:
    """The input text of the one model span captured (then forgotten, for the next call)."""
    text = attrs(spans.one(f"chat {MODEL}")).get(sc.OI_INPUT_VALUE)
    spans.clear()
    return text


def _call(i: int) -> list[Any]:
    """One call of a new conversation: a fresh copy of the huge system prompt and a short question."""
    return [SystemMessage(PROMPT[: len(PROMPT) - i]), HumanMessage(f"question {i}: where is my order?")]


def test_a_huge_system_prompt_over_many_calls_keeps_the_cache_small_and_the_text_exact() -> None:
    with capture(integrations=["langchain"]) as spans:
        for i in range(CALLS):
            messages = _call(i)
            _invoke(messages)
            assert _input_text(spans) == _expected(messages)
        # Only the short questions may be kept: never a prompt, which the emitter cuts to the cap anyway.
        assert _retained() <= CALLS * 200
        assert all(len(fragment) <= DEFAULT_MAX_CHARS for fragment in _messages._cache.values())


def test_a_conversation_under_the_cap_is_still_kept_for_reuse() -> None:
    messages = [SystemMessage("Be brief.")]
    for i in range(20):
        messages += [HumanMessage(f"question {i}"), AIMessage(f"answer {i}")]
    with capture(integrations=["langchain"]) as spans:
        _invoke(messages)
        assert _input_text(spans) == _expected(messages)
        assert len(_messages._cache) == len(messages)


def test_uninstrument_lets_the_cache_go() -> None:
    messages = [SystemMessage("Be brief."), HumanMessage("my card number is 4111 1111 1111 1111")]
    with capture(integrations=["langchain"]):
        _invoke(messages)
        assert _messages._cache
    assert not _messages._cache


def test_content_capture_off_leaves_the_cache_empty() -> None:
    messages = [SystemMessage("Be brief."), HumanMessage("my card number is 4111 1111 1111 1111")]
    with capture(integrations=["langchain"]) as spans:
        _invoke(messages)
        assert _input_text(spans) == _expected(messages) and _messages._cache
        threadline.instrument(tracer_provider=spans.provider, integrations=["langchain"], capture_content=False)
        _invoke(messages)
        assert _input_text(spans) is None
        assert not _messages._cache


def test_a_deeply_nested_tool_call_argument_still_gives_the_model_span_its_text() -> None:
    arguments: dict[str, Any] = {"leaf": 1}
    for _ in range(3_000):  # deeper than the interpreter's recursion limit
        arguments = {"n": arguments}
    messages = [HumanMessage("go"), AIMessage("", tool_calls=[{"id": "c1", "name": "walk", "args": arguments}])]
    with capture(integrations=["langchain"]) as spans:
        _invoke(messages)
        assert _input_text(spans) == _expected(messages)


def test_the_characters_kept_stay_under_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_messages, "MAX_CACHED_CHARS", 20_000)
    with capture(integrations=["langchain"]) as spans:
        for i in range(40):  # ~2,000 characters kept per call, under the content cap each
            messages = [SystemMessage(f"{i} " + "Be brief. " * 50), HumanMessage(f"{i} " + "Where is it? " * 30)]
            _invoke(messages)
            assert _input_text(spans) == _expected(messages)
            assert 0 < _retained() <= 20_000
