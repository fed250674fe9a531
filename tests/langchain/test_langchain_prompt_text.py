"""A model span's input messages are rendered once per message, and read exactly as a fresh rendering would.

The expected text is the core's own rendering of the plain message view
(``ContentPolicy.text(messages_view(...))``), so a cached fragment that went
stale, a missed field, or a cut in the wrong place shows up as a difference.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage

from scenarios.chat_models import MODEL, ScriptedChatModel
from tests.kit import attrs
from threadline import semconv as sc
from threadline.content import ContentPolicy
from threadline.testing import capture
from threadline_langchain import _messages
from threadline_langchain._extract import messages_view

TEXT = "Could you tell me more about the order I placed last week, and when it ships? " * 3


def _expected(messages: list[Any], **policy: Any) -> tuple[str | None, bool]:
    return ContentPolicy(**policy).text(messages_view(messages))


def _conversation(turns: int) -> list[Any]:
    messages: list[Any] = [SystemMessage("You are terse.", id="s")]
    for i in range(turns):
        messages.append(HumanMessage(f"{i:04d} {TEXT}", id=f"h{i}"))
        messages.append(AIMessage(f"answer {i}", id=f"a{i}"))
    return messages


def _input_text(messages: list[Any], **options: Any) -> tuple[str, Any]:
    with capture(integrations=["langchain"], **options) as spans:
        ScriptedChatModel(script=["ok"]).invoke(messages)
    span_attrs = attrs(spans.one(f"chat {MODEL}"))
    return span_attrs[sc.OI_INPUT_VALUE], span_attrs.get(sc.TRUNCATED)


def test_every_kind_of_message_reads_as_the_plain_rendering() -> None:
    messages = [
        SystemMessage("Be brief.", name="policy"),
        HumanMessage([{"type": "text", "text": "What is in"}, {"type": "image_url", "image_url": {"url": "x"}}]),
        AIMessage("", tool_calls=[{"id": "c1", "name": "lookup", "args": {"q": "é", "n": 2}}]),
        ToolMessage("found it", tool_call_id="c1"),
        ChatMessage("a critic speaks", role="critic"),
        AIMessage("Done."),
    ]
    for _ in range(2):  # the second time from the cache
        text, truncated = _input_text(messages)
        assert (text, bool(truncated)) == (_expected(messages)[0], False)
        assert json.loads(text)[2]["tool_calls"] == [{"id": "c1", "name": "lookup", "arguments": {"q": "é", "n": 2}}]


def test_a_message_changed_in_place_is_read_as_it_is_now() -> None:
    question = HumanMessage("What is the capital of France?", id="q")
    call = AIMessage("", id="c", tool_calls=[{"id": "t1", "name": "lookup", "args": {"city": "Paris"}}])
    messages = [question, call]
    assert _input_text(messages)[0] == _expected(messages)[0]

    question.content = "What is the capital of Italy?"
    call.tool_calls[0]["args"]["city"] = "Rome"
    call.name = "planner"
    text = _input_text(messages)[0]
    assert text == _expected(messages)[0]
    assert "Italy" in text and "Rome" in text and "Paris" not in text and "France" not in text


def test_fresh_copies_of_a_long_conversation_read_the_same_and_are_cut_where_the_emitter_cuts() -> None:
    for turns in (1, 30, 99):
        messages = _conversation(turns)
        copies = [m.model_copy(deep=True) for m in messages]  # as a checkpointer hands them back
        expected, cut = _expected(messages)
        assert _input_text(messages) == (expected, True if cut else None)
        assert _input_text(copies) == (expected, True if cut else None)


def test_a_redaction_hook_sees_the_messages_and_a_long_list_is_capped_as_before() -> None:
    seen: list[Any] = []

    def redact(value: Any) -> Any:
        seen.append(value)
        return value

    messages = _conversation(2)
    text, _ = _input_text(messages, redact=redact)
    assert text == _expected(messages)[0]
    assert messages_view(messages) in seen

    many = _conversation(120)  # over the renderer's item cap: its own marker, as before
    assert _input_text(many, max_content_chars=10_000_000)[0] == _expected(many, max_chars=10_000_000)[0]


def test_a_conversation_over_the_item_cap_reads_as_the_capped_rendering() -> None:
    long = _conversation(150)  # 301 messages, cut long before the 200th
    assert _input_text(long) == (_expected(long)[0], True)
    short = [HumanMessage(f"{i}") for i in range(250)]  # not cut: the renderer's own marker shows
    text, truncated = _input_text(short)
    assert (text, truncated) == (_expected(short)[0], None)
    assert json.loads(text)[-1] == "... 50 more"
    calls = [*_conversation(40), AIMessage("", tool_calls=[{"id": "c", "name": "f", "args": {"n": list(range(300))}}])]
    calls += _conversation(80)
    assert _input_text(calls, max_content_chars=30_000)[0] == _expected(calls, max_chars=30_000)[0]


def test_the_cache_is_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(_messages, "MAX_CACHED", 8)
    monkeypatch.setattr(_messages, "_cache", {})
    messages = _conversation(10)
    assert _input_text(messages)[0] == _expected(messages)[0]
    assert len(_messages._cache) <= 8
