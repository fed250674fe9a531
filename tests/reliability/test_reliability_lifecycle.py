"""Lifecycle: uninstrument mid-run, instrument again, fork, and exit without an explicit flush."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rel_kit import (
    LANGGRAPH_READY,
    FailureCount,
    FakeOpenAI,
    echo_chat_model,
    needs_langchain,
    needs_langgraph,
    plain,
    support_graph,
)

import threadline
from threadline import _runtime
from threadline import semconv as sc

REPLY = "Hello! How can I assist you today?"
HI = [{"role": "user", "content": "hi"}]


def _memory_pipeline() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _names(exporter: InMemorySpanExporter) -> list[str]:
    return sorted(s.name for s in exporter.get_finished_spans())


def test_uninstrument_while_streams_are_in_flight() -> None:
    from llama_index.core.llms import MockLLM

    provider, exporter = _memory_pipeline()
    threadline.instrument(tracer_provider=provider, integrations=["openai", "llamaindex"])
    tracker = _runtime.state.integrations["llamaindex"].tracker
    failures = FailureCount()
    client, _ = FakeOpenAI().clients()

    openai_stream = client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    first = next(openai_stream)
    llama_stream = MockLLM(max_tokens=4).stream_complete("hi")
    first_delta = next(llama_stream).delta
    assert tracker.open_count() == 1 and exporter.get_finished_spans() == ()

    threadline.uninstrument()  # both runs are half-way through

    rest = list(openai_stream)
    assert "".join(c.choices[0].delta.content or "" for c in [first, *rest] if c.choices) == REPLY
    assert first_delta + "".join(r.delta for r in llama_stream) == "text text text text"
    assert tracker.open_count() == 0 and not tracker._pending and not tracker._streams
    assert failures.new == 0

    ended = {s.name: s for s in exporter.get_finished_spans()}
    assert set(ended) == {"chat gpt-4o-mini", "MockLLM.stream_complete"}
    # The SDK stream is traced in place and still ends with its own outcome; LlamaIndex's open
    # span is closed by uninstrument (no more events will come for it).
    assert ended["chat gpt-4o-mini"].attributes[sc.END_REASON] == "completed"
    assert ended["MockLLM.stream_complete"].attributes[sc.OUTCOME] == "cancelled"

    client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    MockLLM().complete("hi")
    assert len(exporter.get_finished_spans()) == 2  # nothing traced after uninstrument


def test_instrument_and_uninstrument_racing_with_calls_on_other_threads() -> None:
    from llama_index.core.llms import MockLLM

    provider, exporter = _memory_pipeline()
    failures = FailureCount()
    stop = threading.Event()
    errors: list[BaseException] = []
    calls = [0]

    def worker(n: int) -> None:
        client, _ = FakeOpenAI().clients()
        llm = MockLLM(max_tokens=2)
        graph = support_graph(echo_chat_model()) if LANGGRAPH_READY else None
        try:
            while not stop.is_set():
                assert (
                    client.chat.completions.create(model="gpt-4o-mini", messages=HI).choices[0].message.content == REPLY
                )
                chunks = client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
                assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
                assert [r.delta for r in llm.stream_complete("x")] == ["text ", "text"]
                if graph is not None:
                    config = {"configurable": {"thread_id": f"w{n}-{calls[0]}"}}
                    out = graph.invoke({"messages": [("user", "hi")]}, config)
                    assert out["messages"][-1].content == "answer to hi"
                calls[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(4)]
    integrations = ["openai", "llamaindex", "langgraph"] if LANGGRAPH_READY else ["openai", "llamaindex"]
    for t in threads:
        t.start()
    toggles = 0
    # Toggle until the workers have gone round many times (and at least 15 times), whatever the speed.
    while (toggles < 15 or calls[0] < 12) and not errors and toggles < 100_000:
        threadline.instrument(tracer_provider=provider, integrations=integrations)
        threadline.uninstrument()
        toggles += 1
    stop.set()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == [] and calls[0] > 0
    assert failures.new == 0
    if LANGGRAPH_READY:
        from threadline_langchain import open_runs

        assert open_runs() == 0
    for span in exporter.get_finished_spans():
        assert span.end_time is not None and sc.OUTCOME in span.attributes


INTEGRATION_CALLS = ["openai", "llamaindex", pytest.param("langchain", marks=needs_langchain)]
INTEGRATION_CALLS.append(pytest.param("langgraph", marks=needs_langgraph))


@pytest.mark.parametrize("integration", INTEGRATION_CALLS)
def test_instrument_uninstrument_instrument_traces_each_call_once(integration: str) -> None:
    from llama_index.core.llms import MockLLM

    client, _ = FakeOpenAI().clients()
    calls = [0]

    def call() -> None:
        calls[0] += 1
        if integration == "openai":
            client.chat.completions.create(model="gpt-4o-mini", messages=HI)
        elif integration == "llamaindex":
            MockLLM().complete("hi")
        elif integration == "langchain":
            echo_chat_model().invoke("hi")
        else:
            support_graph(echo_chat_model()).invoke(
                {"messages": [("user", "hi")]}, {"configurable": {"thread_id": f"t-{calls[0]}"}}
            )

    name = {"openai": "chat gpt-4o-mini", "llamaindex": "MockLLM.complete", "langchain": "chat gpt-4o-mini"}.get(
        integration, "support"
    )
    provider, exporter = _memory_pipeline()
    threadline.instrument(tracer_provider=provider, integrations=[integration])
    call()
    threadline.uninstrument()
    call()
    threadline.instrument(tracer_provider=provider, integrations=[integration])
    call()
    threadline.instrument(tracer_provider=provider, integrations=[integration])  # and once more
    call()
    roots = sorted(s.name for s in exporter.get_finished_spans() if s.parent is None)
    assert roots == [name] * 3  # the uninstrumented call made none, no call made two


@needs_langgraph
def test_uninstrument_while_a_graph_stream_is_in_flight() -> None:
    from threadline_langchain import open_runs

    provider, exporter = _memory_pipeline()
    threadline.instrument(tracer_provider=provider, integrations=["langgraph"])
    failures = FailureCount()
    graph = support_graph(echo_chat_model())
    updates = graph.stream(
        {"messages": [("user", "hi")]}, {"configurable": {"thread_id": "t-1"}}, stream_mode="updates"
    )
    first = next(updates)  # the agent node has run; the review node has not
    assert open_runs() > 0

    threadline.uninstrument()

    rest = list(updates)
    assert plain(first) == {"agent": {"messages": [("ai", "answer to hi", [])]}}
    assert plain(rest) == [{"__interrupt__": [("interrupt", {"question": "Send this answer?"})]}]
    assert open_runs() == 0  # the run that was in flight ended, nothing left in the map
    assert failures.new == 0
    root = [s for s in exporter.get_finished_spans() if s.parent is None]
    assert [(r.name, r.attributes[sc.OUTCOME]) for r in root] == [("support", "interrupted")]
    graph.invoke({"messages": [("user", "hi")]}, {"configurable": {"thread_id": "t-2"}})
    assert len([s for s in exporter.get_finished_spans() if s.parent is None]) == 1  # nothing new traced


def _store_rows(db: Path) -> list[tuple[str, str | None, str | None]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT name, span_id, parent_span_id FROM spans").fetchall()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_keeps_tracing_to_the_store(tmp_path: Path) -> None:
    db = Path(os.environ["THREADLINE_DB"])
    threadline.instrument(integrations=["openai"])  # the default SQLite store
    backend = FakeOpenAI()

    @threadline.observe(name="parent-before")
    def before() -> None:
        return None

    before()  # the batch thread and the store connection exist before the fork

    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            client, _ = backend.clients()

            @threadline.observe(name="child-turn")
            def child_turn() -> str:
                return client.chat.completions.create(model="gpt-4o-mini", messages=HI).choices[0].message.content

            for _ in range(3):
                assert child_turn() == REPLY
            code = 0 if threadline.flush(20) else 3
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)

    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    @threadline.observe(name="parent-after")
    def after() -> None:
        return None

    after()
    assert threadline.flush(20)
    rows = _store_rows(db)
    names = sorted(name for name, _, _ in rows)
    assert names == sorted(["parent-before", "parent-after"] + ["child-turn", "chat gpt-4o-mini"] * 3)
    turns = {span_id for name, span_id, _ in rows if name == "child-turn"}
    assert {parent for name, _, parent in rows if name == "chat gpt-4o-mini"} == turns


def test_process_exit_flushes_every_span(tmp_path: Path) -> None:
    db = tmp_path / "exit.db"
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, ROOT)
        import threadline
        from scenarios.openai_api import FakeOpenAI

        threadline.instrument(integrations=["openai"])  # default store, default batch processor
        client, _ = FakeOpenAI().clients()

        @threadline.observe(name="turn")
        def turn(i):
            return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": str(i)}])

        @threadline.observe(name="step")
        def step(i):
            return i

        for i in range(100):
            turn(i)
        for i in range(1800):
            step(i)
        # no flush, no shutdown: the interpreter exits with spans still queued
        """
    ).replace("ROOT", repr(str(Path(__file__).parents[2])))
    env = {**os.environ, "THREADLINE_DB": str(db)}
    env.pop("PYTEST_CURRENT_TEST", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        counts = dict(conn.execute("SELECT name, count(*) FROM spans GROUP BY name").fetchall())
    # 2000 spans: under the default queue bound (2048), so nothing may be dropped even if the
    # batch thread never ran before exit.
    assert counts == {"turn": 100, "chat gpt-4o-mini": 100, "step": 1800}
