"""The applications the workloads drive: the shared scenario apps (``scenarios/``), set up for timing.

- a LangGraph 3-node graph whose middle node calls a fake chat model that
  reports usage (5 spans per turn: graph, 3 nodes, the chat model);
- a LangGraph graph that interrupts for human review and is resumed;
- an ``openai.OpenAI`` client whose HTTP goes to an ``httpx.MockTransport``
  answering with bytes encoded once (the mock costs next to nothing);
- a LlamaIndex query engine over a small index with ``MockLLM`` and ``MockEmbedding``.

Frameworks are imported when an app is built, so a workload whose framework
is missing is skipped rather than breaking the run.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Call

MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is the answer?"},
]


# -- LangGraph -------------------------------------------------------------------------
def fake_chat_model() -> Any:
    """A LangChain chat model that answers at once and reports usage like ChatOpenAI does."""
    from scenarios.chat_models import FixedAnswerChat

    return FixedAnswerChat()


def turn_graph() -> Any:
    """START → prepare → model → finish → END; ``model`` calls the fake chat model."""
    from scenarios.langgraph_apps import turn_graph

    return turn_graph(fake_chat_model())


def turn_config(i: int, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """The config of turn ``i``: 16 conversation threads in rotation."""
    from scenarios.langgraph_apps import turn_config

    return turn_config(i, callbacks)


def hitl_graph() -> tuple[Any, Any]:
    """draft → review (``interrupt()``) → publish, with an in-memory checkpointer; returns (graph, saver)."""
    from langgraph.checkpoint.memory import InMemorySaver

    from scenarios.langgraph_apps import review_graph

    saver = InMemorySaver()
    return review_graph(saver), saver


def hitl_cycle(graph: Any, saver: Any) -> Call:
    """``cycle(i)``: review ``i`` pauses at ``interrupt()``, is approved, finishes; then its thread is deleted."""
    from langgraph.types import Command

    def cycle(i: int) -> Any:
        config = {"configurable": {"thread_id": f"review-{i}"}}
        paused = graph.invoke({"topic": f"topic {i}"}, config)
        assert "__interrupt__" in paused
        done = graph.invoke(Command(resume="approve"), config)
        saver.delete_thread(f"review-{i}")
        return done

    return cycle


# -- OpenAI ----------------------------------------------------------------------------
def openai_client() -> Any:
    """An ``openai.OpenAI`` whose requests are answered by an ``httpx.MockTransport`` (no network)."""
    import json

    import httpx

    from scenarios import openai_api

    completion = openai_api.chat_completion("The answer is 42.", usage=(42, 12))
    completion_bytes = json.dumps(completion).encode()
    stream = openai_api.sse(openai_api.chat_chunks(["The answer", " is", " 42."], usage=completion["usage"]))

    def answer(request: httpx.Request) -> httpx.Response:
        if b'"stream":true' in request.content.replace(b" ", b""):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=stream)
        return httpx.Response(200, headers={"content-type": "application/json"}, content=completion_bytes)

    client, _ = openai_api.mock_clients(
        answer, api_key="sk-bench-not-a-real-key", base_url="http://openai.bench.invalid/v1"
    )
    return client


# -- LlamaIndex ------------------------------------------------------------------------
def llamaindex_engine() -> Any:
    """A query engine over 12 short documents, with ``MockLLM`` and ``MockEmbedding``."""
    from llama_index.core.llms import MockLLM

    from scenarios.llamaindex_apps import facts, query_engine

    return query_engine(facts(12), MockLLM(max_tokens=16), similarity_top_k=2)
