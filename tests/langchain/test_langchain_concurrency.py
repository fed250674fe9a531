"""Every way of running a chain gives the same tree: invoke, stream, astream, astream_events, batch,
abatch, OS threads and asyncio tasks; concurrent runs never share spans or sessions."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from scenarios.chat_models import MODEL, ScriptedChatModel, usage
from tests.kit import attrs, parent_of
from threadline import semconv as sc
from threadline.testing import capture

SHAPE = {
    "RunnableSequence": None,
    "ChatPromptTemplate": "RunnableSequence",
    f"chat {MODEL}": "RunnableSequence",
    "StrOutputParser": "RunnableSequence",
}


def _chain() -> Any:
    model = ScriptedChatModel(script=["the answer is here"], reply_usage=usage(40, 4))
    return ChatPromptTemplate.from_messages([("user", "{q}")]) | model | StrOutputParser()


def _check_traces(spans: Any, sessions: set[str]) -> None:
    """One well-formed trace per session: the chain's shape, every span in its trace's session."""
    traces = spans.traces()
    assert len(traces) == len(sessions)
    seen = set()
    for members in traces.values():
        shape = {s.name: (parent_of(spans, s).name if s.parent is not None else None) for s in members}
        assert shape == SHAPE
        assert len(members) == len(SHAPE)
        trace_sessions = {attrs(s)[sc.SESSION_ID] for s in members}
        assert len(trace_sessions) == 1, trace_sessions
        seen |= trace_sessions
        model_span = next(s for s in members if s.name == f"chat {MODEL}")
        assert attrs(model_span)[sc.GEN_AI_USAGE_INPUT_TOKENS] == 40
    assert seen == sessions


def _config(session: str) -> dict[str, Any]:
    return {"metadata": {"session_id": session}}


def test_invoke_and_stream_give_the_same_tree() -> None:
    with capture(integrations=["langchain"]) as spans:
        assert _chain().invoke({"q": "?"}, _config("invoke")) == "the answer is here"
        assert "".join(_chain().stream({"q": "?"}, _config("stream"))) == "the answer is here"
    _check_traces(spans, {"invoke", "stream"})


async def test_ainvoke_astream_and_astream_events_give_the_same_tree() -> None:
    with capture(integrations=["langchain"]) as spans:
        assert await _chain().ainvoke({"q": "?"}, _config("ainvoke")) == "the answer is here"
        assert "".join([c async for c in _chain().astream({"q": "?"}, _config("astream"))]) == "the answer is here"
        events = [e["event"] async for e in _chain().astream_events({"q": "?"}, _config("events"), version="v2")]
        assert "on_chat_model_stream" in events
    _check_traces(spans, {"ainvoke", "astream", "events"})
    streamed = [s for s in spans.by_name(f"chat {MODEL}") if attrs(s)[sc.SESSION_ID] in ("astream", "events")]
    assert all(attrs(s)[sc.TIME_TO_FIRST_TOKEN] >= 0 for s in streamed)


def test_batch_gives_one_trace_per_input() -> None:
    with capture(integrations=["langchain"]) as spans:
        out = _chain().batch([{"q": "?"}] * 4, [_config(f"batch-{i}") for i in range(4)])
    assert out == ["the answer is here"] * 4
    _check_traces(spans, {f"batch-{i}" for i in range(4)})


async def test_abatch_gives_one_trace_per_input() -> None:
    with capture(integrations=["langchain"]) as spans:
        out = await _chain().abatch([{"q": "?"}] * 4, [_config(f"abatch-{i}") for i in range(4)])
    assert out == ["the answer is here"] * 4
    _check_traces(spans, {f"abatch-{i}" for i in range(4)})


def test_os_threads_never_mix_spans_or_sessions() -> None:
    chain = _chain()
    with capture(integrations=["langchain"]) as spans:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda i: chain.invoke({"q": "?"}, _config(f"thread-{i}")), range(16)))
    assert results == ["the answer is here"] * 16
    _check_traces(spans, {f"thread-{i}" for i in range(16)})


@pytest.mark.parametrize("streamed", [False, True])
async def test_asyncio_tasks_never_mix_spans_or_sessions(streamed: bool) -> None:
    chain = _chain()

    async def turn(i: int) -> str:
        if streamed:
            return "".join([c async for c in chain.astream({"q": "?"}, _config(f"task-{i}"))])
        return await chain.ainvoke({"q": "?"}, _config(f"task-{i}"))

    with capture(integrations=["langchain"]) as spans:
        results = await asyncio.gather(*(turn(i) for i in range(16)))
    assert results == ["the answer is here"] * 16
    _check_traces(spans, {f"task-{i}" for i in range(16)})
