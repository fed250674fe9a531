"""Concurrency: many conversations at once on threads and asyncio tasks; no cross-talk, nothing left over.

* LangGraph, 32 threads x 16 asyncio tasks, each task its own LangGraph thread
  id: a turn that pauses on ``interrupt()`` and its resume. Every span is in
  its conversation's session and trace, carries only its conversation's text,
  each resume links to its own pause, and the run map and the pending
  interrupts are empty at the end.
* Across integrations, 32 threads x 4 tasks in explicit ``threadline.session``
  scopes: an ``@observe`` turn calling the async OpenAI client (a completion
  and a stream) and LlamaIndex; same checks, and LlamaIndex's span map empty.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from collections import defaultdict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from rel_kit import FakeOpenAI, echo_chat_model, needs_langgraph, support_graph

import threadline
from threadline import _runtime
from threadline import semconv as sc
from threadline.testing import capture

THREADS = 32
TASKS = 16  # per thread, for LangGraph (the numbers)
OBSERVE_TASKS = 4  # per thread, for the cross-integration variant (it adds LlamaIndex and the OpenAI SDK)
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

    results = await asyncio.gather(*(task(k) for k in range(OBSERVE_TASKS)), return_exceptions=True)
    errors.extend(r for r in results if isinstance(r, BaseException))
    await client.close()


def _run_threads(main: Callable[[int], Coroutine[Any, Any, Any]], timeout: float) -> None:
    """``asyncio.run(main(t))`` in each of ``THREADS`` threads at once; all of them must finish in ``timeout``."""
    threads = [threading.Thread(target=lambda t=t: asyncio.run(main(t)), name=f"app-{t}") for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads)


def test_32_threads_x_4_tasks_across_integrations_keep_sessions_and_traces_apart() -> None:
    backend = FakeOpenAI(reply="answer to {last}")
    errors: list[BaseException] = []
    with capture(integrations=["openai", "llamaindex"]) as spans:
        _run_threads(lambda t: _thread_main(t, backend, errors), timeout=120)
        assert errors == []
        tracker = _runtime.state.integrations["llamaindex"].tracker
        assert tracker.open_count() == 0 and not tracker._pending and not tracker._streams
        finished = spans.finished()

    runs = THREADS * OBSERVE_TASKS
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
    assert seen_sessions == {_session_of(t, k) for t in range(THREADS) for k in range(OBSERVE_TASKS)}


# --- LangGraph: sessions from thread ids, pauses and resumes -----------------------------------------------------


async def _graph_thread_main(thread: int, errors: list[BaseException]) -> None:
    from langgraph.types import Command

    graph = support_graph(echo_chat_model(), is_async=True)

    async def task(k: int) -> None:
        tid = _session_of(thread, k)
        config = {"configurable": {"thread_id": tid}}
        paused = await graph.ainvoke({"messages": [("user", f"question from {tid}")]}, config)
        assert paused["messages"][-1].content == f"answer to question from {tid}"
        assert paused["__interrupt__"][0].value == {"question": "Send this answer?"}
        resumed = await graph.ainvoke(Command(resume=f"approved {tid}"), config)
        assert resumed["approved"] == f"approved {tid}"

    results = await asyncio.gather(*(task(k) for k in range(TASKS)), return_exceptions=True)
    errors.extend(r for r in results if isinstance(r, BaseException))


@needs_langgraph
def test_32_threads_x_16_tasks_of_langgraph_threads_never_mix() -> None:
    from threadline_langchain import open_runs
    from threadline_langchain._registry import REGISTRY
    from threadline_langgraph._pending import PENDING

    errors: list[BaseException] = []
    with capture(integrations=["langgraph"]) as spans:
        _run_threads(lambda t: _graph_thread_main(t, errors), timeout=300)
        assert errors == []
        assert open_runs() == 0 and not REGISTRY._roots  # the run map is empty
        assert len(PENDING) == 0  # every pause was answered
        finished = spans.finished()

    by_trace: dict[int, list[Any]] = defaultdict(list)
    for span in finished:
        by_trace[span.context.trace_id].append(span)
    assert len(by_trace) == 2 * THREADS * TASKS  # a paused turn and its resume, per conversation

    turns: dict[str, dict[str, Any]] = defaultdict(dict)
    for trace_spans in by_trace.values():
        (root,) = [s for s in trace_spans if s.parent is None]
        tid = root.attributes[sc.SESSION_ID]
        kind = "resume" if root.attributes.get(sc.RESUME) else "paused"
        assert kind not in turns[tid], f"two {kind} turns in session {tid}"
        turns[tid][kind] = root
        by_id = {s.context.span_id: s for s in trace_spans}
        for span in trace_spans:
            attrs = dict(span.attributes or {})
            assert attrs[sc.SESSION_ID] == tid, f"{span.name} of {tid} is in session {attrs[sc.SESSION_ID]}"
            if span.parent is not None:
                assert span.parent.span_id in by_id  # its parent is in this very trace
            texts = " ".join(str(attrs.get(k, "")) for k in (sc.OI_INPUT_VALUE, sc.OI_OUTPUT_VALUE))
            assert texts.count("conv-") == texts.count(tid), f"{span.name} of {tid} carries another's text"
        if kind == "paused":
            (model,) = [s for s in trace_spans if s.attributes[sc.SPAN_KIND] == "model"]
            assert f"question from {tid}" in model.attributes[sc.OI_INPUT_VALUE]
            assert model.attributes[sc.OI_OUTPUT_VALUE].count(f"answer to question from {tid}") == 1
            assert model.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 19
            assert by_id[model.parent.span_id].name == "agent"
            assert root.attributes[sc.OUTCOME] == "interrupted"
    assert set(turns) == {_session_of(t, k) for t in range(THREADS) for k in range(TASKS)}
    for tid, pair in turns.items():
        assert set(pair) == {"paused", "resume"}, tid
        # The resume is linked to its own thread's pause, not another's.
        assert pair["resume"].attributes[sc.RESUME_TRACE_ID] == format(pair["paused"].context.trace_id, "032x")


def test_the_pricing_library_is_imported_when_instrumenting(tmp_path: Path) -> None:
    """Not lazily at the first priced call on an application thread.

    Its import brings in httpx2, and the openai SDK reads ``sys.modules["httpx2"]``
    on every request: a lazy import on one thread made concurrent requests on
    other threads fail with "partially initialized module 'httpx2'".
    """
    script = textwrap.dedent(
        """
        import sys
        import threadline
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        assert "genai_prices" not in sys.modules
        threadline.instrument(exporter=InMemorySpanExporter(), integrations=[])
        assert "genai_prices" in sys.modules
        """
    )
    env = {**os.environ, "THREADLINE_DB": str(tmp_path / "t.db")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
