"""Concurrency: 32 threads x 16 asyncio tasks, each its own conversation; no cross-talk, nothing left over.

Every task runs one turn in its own session (an explicit ``threadline.session``
scope here; a LangGraph thread id in ``test_reliability_concurrency_graphs``):
an ``@observe`` function calling the real async OpenAI client (a completion
and a stream) and LlamaIndex. Each span must be in its task's trace and
session, carry only its task's text, hang under its task's root, and every
integration's run map must be empty at the end.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from typing import Any

from rel_kit import FakeOpenAI

import threadline
from threadline import _runtime
from threadline import semconv as sc
from threadline.testing import capture

THREADS = 32
TASKS = 16
# The spans of one turn and their parents (CustomLLM.acomplete calls complete).
SPANS_PER_RUN = [
    ("turn", None),
    ("chat gpt-4o-mini", "turn"),  # the completion
    ("chat gpt-4o-mini", "turn"),  # the stream
    ("MockLLM.acomplete", "turn"),
    ("MockLLM.complete", "MockLLM.acomplete"),
]
PARENT = dict(SPANS_PER_RUN)


def _session_of(thread: int, task: int) -> str:
    return f"conv-{thread:02d}-{task:02d}"


async def _thread_main(thread: int, backend: FakeOpenAI, errors: list[BaseException]) -> None:
    from llama_index.core.llms import MockLLM

    _, client = backend.clients()
    llm = MockLLM()

    @threadline.observe(name="turn")
    async def turn(sid: str) -> str:
        question = f"question from {sid}"
        completion = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}], stream=True
        )
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        echoed = await llm.acomplete(f"summary of {sid}")
        return f"{completion.choices[0].message.content}|{streamed}|{echoed.text}"

    async def task(k: int) -> None:
        sid = _session_of(thread, k)
        async with threadline.session(sid):
            answer = await turn(sid)
        expected = f"answer to question from {sid}"
        assert answer == f"{expected}|{expected}|summary of {sid}", answer

    results = await asyncio.gather(*(task(k) for k in range(TASKS)), return_exceptions=True)
    errors.extend(r for r in results if isinstance(r, BaseException))
    await client.close()


def test_32_threads_x_16_tasks_keep_their_sessions_and_traces_apart() -> None:
    backend = FakeOpenAI(reply="answer to {last}")
    errors: list[BaseException] = []
    with capture(integrations=["openai", "llamaindex"]) as spans:
        threads = [
            threading.Thread(target=lambda t=t: asyncio.run(_thread_main(t, backend, errors)), name=f"app-{t}")
            for t in range(THREADS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        tracker = _runtime.state.integrations["llamaindex"].tracker
        assert tracker.open_count() == 0 and not tracker._pending and not tracker._streams
        finished = spans.finished()

    runs = THREADS * TASKS
    per_run = len(SPANS_PER_RUN)
    assert len(finished) == runs * per_run, f"expected {runs * per_run} spans, got {len(finished)}"
    by_trace: dict[int, list[Any]] = defaultdict(list)
    for span in finished:
        by_trace[span.context.trace_id].append(span)
    assert len(by_trace) == runs

    seen_sessions = set()
    for trace_spans in by_trace.values():
        (root,) = [s for s in trace_spans if s.parent is None]
        assert root.name == "turn"
        sid = root.attributes[sc.SESSION_ID]
        seen_sessions.add(sid)
        assert sorted(s.name for s in trace_spans) == sorted(name for name, _ in SPANS_PER_RUN)
        by_id = {s.context.span_id: s for s in trace_spans}
        for span in trace_spans:
            attrs = dict(span.attributes or {})
            assert attrs[sc.SESSION_ID] == sid, f"{span.name} of {sid} is in session {attrs[sc.SESSION_ID]}"
            if span is not root:
                parent = by_id[span.parent.span_id]
                assert parent.name == PARENT[span.name], f"{span.name} of {sid} under {parent.name}"
            # Only this conversation's text: a span built from another task's state would name it.
            texts = " ".join(str(attrs.get(k, "")) for k in (sc.OI_INPUT_VALUE, sc.OI_OUTPUT_VALUE))
            assert sid in texts, f"{span.name} of {sid} does not carry its text: {texts[:200]}"
            assert texts.count("conv-") == texts.count(sid), f"{span.name} of {sid} carries another's text"
    assert seen_sessions == {_session_of(t, k) for t in range(THREADS) for k in range(TASKS)}
