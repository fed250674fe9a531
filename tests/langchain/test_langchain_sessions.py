"""Sessions from run metadata: key order, configurable keys, explicit scopes, one session per trace."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableLambda

import threadline
from scenarios.chat_models import ScriptedChatModel, usage
from tests.kit import attrs
from threadline import semconv as sc
from threadline.testing import capture


def _chain() -> Any:
    model = ScriptedChatModel(script=["ok"], reply_usage=usage(3, 1))
    return RunnableLambda(lambda text: text, name="step") | model


def _sessions(spans: Any) -> set[Any]:
    return {attrs(s).get(sc.SESSION_ID) for s in spans.finished()}


def test_session_id_from_metadata_is_on_every_span_with_the_user() -> None:
    with capture(integrations=["langchain"]) as spans:
        _chain().invoke("hi", config={"metadata": {"session_id": "chat-42", "user_id": "u-7"}})

    assert len(spans.finished()) == 3
    for span in spans.finished():
        a = attrs(span)
        assert a[sc.SESSION_ID] == "chat-42", span.name
        assert a[sc.USER_ID] == "u-7", span.name
        assert a[sc.SESSION_SOURCE] == "session_id"


def test_default_key_order_is_session_id_then_thread_id_then_conversation_id() -> None:
    with capture(integrations=["langchain"]) as spans:
        _chain().invoke("hi", config={"metadata": {"conversation_id": "c-1", "thread_id": "t-1"}})
        first = _sessions(spans)
        spans.clear()
        _chain().invoke("hi", config={"metadata": {"conversation_id": "c-2"}})
        second = _sessions(spans)
        spans.clear()
        _chain().invoke("hi", config={"metadata": {"conversation_id": "c-3", "thread_id": "t-3", "session_id": "s-3"}})
        third = _sessions(spans)
    assert (first, second, third) == ({"t-1"}, {"c-2"}, {"s-3"})


def test_the_key_order_is_configurable() -> None:
    with capture(integrations=["langchain"], session_keys=["conversation_id", "thread_id"]) as spans:
        _chain().invoke("hi", config={"metadata": {"session_id": "s-1", "thread_id": "t-1", "conversation_id": "c-1"}})
    assert _sessions(spans) == {"c-1"}


def test_an_explicit_session_wins_over_metadata() -> None:
    with capture(integrations=["langchain"]) as spans:
        with threadline.session("explicit-1", user_id="u-1"):
            _chain().invoke("hi", config={"metadata": {"session_id": "from-metadata"}})
    assert _sessions(spans) == {"explicit-1"}
    assert {attrs(s)[sc.SESSION_SOURCE] for s in spans.finished()} == {"explicit"}


async def test_an_explicit_session_wins_in_async_code_too() -> None:
    with capture(integrations=["langchain"]) as spans:
        async with threadline.session("explicit-2"):
            await _chain().ainvoke("hi", config={"metadata": {"session_id": "from-metadata"}})
    assert _sessions(spans) == {"explicit-2"}


def test_one_session_per_trace_the_root_decides() -> None:
    inner_model = ScriptedChatModel(script=["inner"], reply_usage=usage(2, 1))
    inner = RunnableLambda(lambda x: inner_model.invoke(x, config={"metadata": {"session_id": "other"}}), name="inner")
    with capture(integrations=["langchain"]) as spans:
        (RunnableLambda(lambda x: x, name="outer") | inner).invoke("hi", config={"metadata": {"session_id": "root"}})
    assert len(spans.traces()) == 1
    assert _sessions(spans) == {"root"}


def test_a_session_found_below_a_root_without_one_is_bound_to_the_trace() -> None:
    model = ScriptedChatModel(script=["ok"], reply_usage=usage(2, 1))
    inner = RunnableLambda(lambda x: model.invoke(x, config={"metadata": {"thread_id": "late-1"}}), name="inner")
    with capture(integrations=["langchain"]) as spans:
        (RunnableLambda(lambda x: x, name="outer") | inner).invoke("hi")
    # Every span still open when the id appears carries it, the root included; "outer" had ended.
    by_name = {s.name: attrs(s).get(sc.SESSION_ID) for s in spans.finished()}
    assert by_name == {"outer": None, "inner": "late-1", "chat gpt-4o-mini": "late-1", "RunnableSequence": "late-1"}


def test_no_session_without_an_id() -> None:
    with capture(integrations=["langchain"]) as spans:
        _chain().invoke("hi")
    assert _sessions(spans) == {None}


def test_a_session_mapper_rewrites_ids() -> None:
    with capture(integrations=["langchain"], session_id_from=lambda raw: f"tenant-a:{raw}") as spans:
        _chain().invoke("hi", config={"metadata": {"session_id": "chat-1"}})
    assert _sessions(spans) == {"tenant-a:chat-1"}
