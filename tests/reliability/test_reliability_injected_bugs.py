"""A bug anywhere in threadline's telemetry path never changes what the application sees.

For every integration, sync and async: a workload of real framework calls
(results, a framework error, the user's own exception, a stream, a stream
that breaks) runs once uninstrumented, for the baseline, then instrumented
with one part of the telemetry path made to raise (the emitter, usage
normalisation, cost, content rendering, the integration's record builders),
with ``THREADLINE_RAISE_INTERNAL=0`` as in production. The outcome must be
equal to the baseline, exceptions must be the very objects raised, streams
the same types with the same items; and the planted bug must have been hit.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from rel_kit import (
    MODEL,
    FailureCount,
    FakeOpenAI,
    chat_openai,
    inject,
    needs_langchain,
    needs_langgraph,
    plain,
    support_graph,
)

from threadline.testing import capture

Target = tuple[str, str]  # ("module" or "module:Class", attribute)


@dataclass(frozen=True)
class Workload:
    """One integration's workload; ``run(is_async)`` returns comparable plain data.

    ``own_bugs`` are the integration's own places to break; :attr:`bugs` adds the core's (:data:`CORE_BUGS`).
    """

    name: str
    sync: Callable[[], dict[str, Any]]
    aio: Callable[[], Any]
    own_bugs: dict[str, tuple[Target, ...]] = field(default_factory=dict)

    @property
    def integrations(self) -> list[str]:
        return [self.name]

    @property
    def bugs(self) -> dict[str, tuple[Target, ...]]:
        return {**CORE_BUGS, **self.own_bugs}

    def run(self, is_async: bool) -> dict[str, Any]:
        return asyncio.run(self.aio()) if is_async else self.sync()


def _resolve(target: str) -> Any:
    module, _, cls = target.partition(":")
    owner = importlib.import_module(module)
    return getattr(owner, cls) if cls else owner


CORE_BUGS: dict[str, tuple[Target, ...]] = {
    "Emitter.start": (("threadline.emitter:Emitter", "start"),),
    "Emitter.end": (("threadline.emitter:Emitter", "end"),),
    "usage": tuple(
        ("threadline.usage", f)
        for f in ("usage_from_openai", "usage_from_anthropic", "usage_from_langchain", "usage_from_any")
    ),
    "Prices.cost": (("threadline.cost:Prices", "cost"),),
    "content": (("threadline.content:ContentPolicy", "text"),),
}

ANY_OF = {"usage"}  # an integration normalises with the usage functions of its providers, not all four


def _broken(stream: Any, error: Exception, item: Callable[[Any], Any]) -> tuple[type, list[Any]]:
    """Iterate a stream that breaks with ``error``: its type and the items before the break (``error`` got out)."""
    seen: list[Any] = []
    with pytest.raises(type(error)) as mid:
        for chunk in stream:
            seen.append(item(chunk))
    assert mid.value is error
    return type(stream), seen


async def _abroken(stream: Any, error: Exception, item: Callable[[Any], Any]) -> tuple[type, list[Any]]:
    """:func:`_broken` for an async stream."""
    seen: list[Any] = []
    with pytest.raises(type(error)) as mid:
        async for chunk in stream:
            seen.append(item(chunk))
    assert mid.value is error
    return type(stream), seen


def _dump(chunk: Any) -> Any:
    return chunk.model_dump()


def _content(chunk: Any) -> Any:
    return chunk.content


# --- OpenAI ------------------------------------------------------------------------------------------------

MESSAGES = [{"role": "user", "content": "Say hello"}]


def _user_errors() -> tuple[Exception, Exception]:
    import openai

    # Raised by the user's transport: the SDK passes its own error types through unchanged.
    return openai.OpenAIError("raised by the user's transport"), httpx.ReadError("connection reset mid-stream")


def openai_sync() -> dict[str, Any]:
    import openai

    backend = FakeOpenAI()
    client, _ = backend.clients()
    out: dict[str, Any] = {"chat": client.chat.completions.create(model=MODEL, messages=MESSAGES).model_dump()}
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    out["stream"] = (type(stream), [c.model_dump() for c in stream])
    out["responses"] = client.responses.create(model="gpt-4.1", input="Tell me a story").model_dump()
    out["embeddings"] = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"]).model_dump()
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=9)
    out["framework error"] = (type(bad.value), str(bad.value), bad.value.status_code, bad.value.body)

    transport_error, stream_error = _user_errors()
    backend.transport_error = transport_error
    with pytest.raises(openai.OpenAIError) as raised:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert raised.value is transport_error
    backend.transport_error, backend.break_stream = None, stream_error
    broken = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    out["broken stream"] = _broken(broken, stream_error, _dump)
    return out


async def openai_async() -> dict[str, Any]:
    import openai

    backend = FakeOpenAI()
    _, client = backend.clients()
    out: dict[str, Any] = {"chat": (await client.chat.completions.create(model=MODEL, messages=MESSAGES)).model_dump()}
    stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    out["stream"] = (type(stream), [c.model_dump() async for c in stream])
    out["responses"] = (await client.responses.create(model="gpt-4.1", input="Tell me a story")).model_dump()
    out["embeddings"] = (await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])).model_dump()
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=9)
    out["framework error"] = (type(bad.value), str(bad.value), bad.value.status_code, bad.value.body)

    transport_error, stream_error = _user_errors()
    backend.transport_error = transport_error
    with pytest.raises(openai.OpenAIError) as raised:
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert raised.value is transport_error
    backend.transport_error, backend.break_stream = None, stream_error
    broken = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    out["broken stream"] = await _abroken(broken, stream_error, _dump)
    await client.close()
    return out


_OA = "threadline_openai._extract"
OPENAI_BUGS: dict[str, tuple[Target, ...]] = {
    "openai call start": (("threadline_openai._calls", "_begin"),),
    "openai request records": ((_OA, "fill_request"),),
    "openai session hints": (("threadline_openai._sessions", "session_candidates"),),
    "openai result records": ((_OA, "fill_result"),),
    "openai response records": ((_OA, "fill_response"), (_OA, "set_usage")),
    "openai stream records": ((f"{_OA}:ChatAccumulator", "feed"), (f"{_OA}:ChatAccumulator", "finish")),
    "openai span ends": (("threadline_openai._calls:Call", "succeed"), ("threadline_openai._calls:Call", "fail")),
}
OPENAI = Workload("openai", openai_sync, openai_async, OPENAI_BUGS)


# --- LlamaIndex --------------------------------------------------------------------------------------------


class UserError(Exception):
    """Raised by the user's own LLM subclass."""


def _llamaindex_models(backend: FakeOpenAI) -> dict[str, Any]:
    from llama_index.core.base.llms.types import CompletionResponse
    from llama_index.core.llms import MockLLM
    from llama_index.core.llms.callbacks import llm_completion_callback
    from llama_index.llms.openai import OpenAI as LlamaOpenAI

    error = UserError("raised by the user's LLM")

    class FailingLLM(MockLLM):
        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            raise error

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            def gen() -> Any:
                yield CompletionResponse(text=prompt[:1], delta=prompt[:1])
                raise error

            return gen()

    openai_llm = LlamaOpenAI(
        model=MODEL,
        api_key="sk-test-not-a-real-key",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(backend)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(backend)),
    )
    return {
        "mock": MockLLM(),
        "mock3": MockLLM(max_tokens=3),
        "failing": FailingLLM(),
        "openai": openai_llm,
        "error": error,
    }


def _query_engine() -> Any:
    from scenarios.llamaindex_apps import query_engine

    # One document: MockEmbedding gives every text the same vector, so several would tie in any order.
    return query_engine(["threadline traces LLM apps."])


def _completion(r: Any) -> tuple[Any, Any]:
    return (r.text, r.delta)


def _chat(r: Any) -> tuple[Any, Any, Any]:
    return (r.message.role, r.message.content, r.delta)


def _answer(response: Any) -> tuple[str, list[str]]:
    return (str(response), sorted(n.node.get_content() for n in response.source_nodes))


def llamaindex_sync() -> dict[str, Any]:
    from llama_index.core.base.llms.types import ChatMessage

    m = _llamaindex_models(FakeOpenAI())
    hi = [ChatMessage(role="user", content="Say hello")]
    out: dict[str, Any] = {"complete": _completion(m["mock"].complete("The quick brown fox"))}
    gen = m["mock3"].stream_complete("hi")
    out["stream"] = (type(gen), [_completion(r) for r in gen])
    out["chat"] = _chat(m["mock"].chat(hi))
    out["openai chat"] = _chat(m["openai"].chat(hi))
    chat_gen = m["openai"].stream_chat(hi)
    out["openai stream"] = (type(chat_gen), [_chat(r) for r in chat_gen])
    out["query"] = _answer(_query_engine().query("What does threadline do?"))
    with pytest.raises(UserError) as raised:
        m["failing"].complete("boom")
    assert raised.value is m["error"]
    out["broken stream"] = _broken(m["failing"].stream_complete("boom"), m["error"], _completion)
    return out


async def llamaindex_async() -> dict[str, Any]:
    from llama_index.core.base.llms.types import ChatMessage

    m = _llamaindex_models(FakeOpenAI())
    hi = [ChatMessage(role="user", content="Say hello")]
    out: dict[str, Any] = {"complete": _completion(await m["mock"].acomplete("The quick brown fox"))}
    gen = await m["mock3"].astream_complete("hi")
    out["stream"] = (type(gen), [_completion(r) async for r in gen])
    out["chat"] = _chat(await m["mock"].achat(hi))
    out["openai chat"] = _chat(await m["openai"].achat(hi))
    chat_gen = await m["openai"].astream_chat(hi)
    out["openai stream"] = (type(chat_gen), [_chat(r) async for r in chat_gen])
    out["query"] = _answer(await _query_engine().aquery("What does threadline do?"))
    with pytest.raises(UserError) as raised:
        await m["failing"].acomplete("boom")
    assert raised.value is m["error"]
    out["broken stream"] = await _abroken(await m["failing"].astream_complete("boom"), m["error"], _completion)
    return out


_LI = "threadline_llamaindex._tracker:Tracker"
_LX = "threadline_llamaindex._extract"
LLAMAINDEX_BUGS: dict[str, tuple[Target, ...]] = {
    "llamaindex span enter": ((_LI, "enter"),),
    "llamaindex span exit": ((_LI, "exit"), (_LI, "drop")),
    "llamaindex events": ((_LI, "on_event"),),
    "llamaindex records": ((_LI, "_record"),),
    "llamaindex results": ((_LI, "_apply_result"), (_LI, "_apply_response")),
    "llamaindex request extractors": ((_LX, "messages"), (_LX, "model_of"), (_LX, "query_text")),
    "llamaindex usage extractor": ((_LX, "usage_of"),),
}
LLAMAINDEX = Workload("llamaindex", llamaindex_sync, llamaindex_async, LLAMAINDEX_BUGS)


# --- LangChain ----------------------------------------------------------------------------------------------


def _langchain_parts(backend: FakeOpenAI) -> dict[str, Any]:
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableLambda
    from langchain_core.tools import tool
    from langchain_core.vectorstores import InMemoryVectorStore

    @tool
    def lookup(order: str) -> str:
        """Look an order up."""
        return f"order {order} ships tomorrow"

    error = UserError("raised by the user's step")

    def fail(_: Any) -> Any:
        raise error

    llm = chat_openai(backend)
    prompt = ChatPromptTemplate.from_messages([("system", "Be terse."), ("user", "{q}")])
    store = InMemoryVectorStore.from_texts(["threadline traces LLM apps."], DeterministicFakeEmbedding(size=8))
    return {
        "llm": llm,
        "chain": prompt | llm | StrOutputParser(),
        "failing chain": prompt | llm | RunnableLambda(fail),
        "bad llm": chat_openai(backend, temperature=9),
        "tool": lookup,
        "retriever": store.as_retriever(search_kwargs={"k": 1}),
        "error": error,
    }


def langchain_sync() -> dict[str, Any]:
    import openai

    backend = FakeOpenAI()
    p = _langchain_parts(backend)
    out: dict[str, Any] = {"chain": p["chain"].invoke({"q": "Say hello"})}
    stream = p["chain"].stream({"q": "Say hello"})
    out["stream"] = (type(stream), list(stream))
    out["tool"] = p["tool"].invoke({"order": "42"})
    out["retriever"] = [d.page_content for d in p["retriever"].invoke("what is threadline?")]
    with pytest.raises(openai.BadRequestError) as bad:
        p["bad llm"].invoke("hi")
    out["framework error"] = (type(bad.value), str(bad.value), bad.value.status_code)
    with pytest.raises(UserError) as raised:
        p["failing chain"].invoke({"q": "Say hello"})
    assert raised.value is p["error"]
    stream_error = httpx.ReadError("connection reset mid-stream")
    backend.break_stream = stream_error
    out["broken stream"] = _broken(p["llm"].stream("Say hello"), stream_error, _content)
    return out


async def langchain_async() -> dict[str, Any]:
    import openai

    backend = FakeOpenAI()
    p = _langchain_parts(backend)
    out: dict[str, Any] = {"chain": await p["chain"].ainvoke({"q": "Say hello"})}
    stream = p["chain"].astream({"q": "Say hello"})
    out["stream"] = (type(stream), [c async for c in stream])
    out["tool"] = await p["tool"].ainvoke({"order": "42"})
    out["retriever"] = [d.page_content for d in await p["retriever"].ainvoke("what is threadline?")]
    with pytest.raises(openai.BadRequestError) as bad:
        await p["bad llm"].ainvoke("hi")
    out["framework error"] = (type(bad.value), str(bad.value), bad.value.status_code)
    with pytest.raises(UserError) as raised:
        await p["failing chain"].ainvoke({"q": "Say hello"})
    assert raised.value is p["error"]
    stream_error = httpx.ReadError("connection reset mid-stream")
    backend.break_stream = stream_error
    out["broken stream"] = await _abroken(p["llm"].astream("Say hello"), stream_error, _content)
    return out


_LH = "threadline_langchain._handler:ThreadlineCallbackHandler"
_LCX = "threadline_langchain._extract"
HANDLER_BUGS: dict[str, tuple[Target, ...]] = {
    "langchain run start": ((_LH, "_start"),),
    "langchain run end": ((_LH, "_end"),),
}
LANGCHAIN_BUGS: dict[str, tuple[Target, ...]] = {
    **HANDLER_BUGS,
    "langchain chain records": ((_LCX, "io_view"),),
    "langchain model messages": ((_LCX, "messages_view"),),
    "langchain model records": ((f"{_LCX}:ModelParams", "__init__"),),
    "langchain model results": ((f"{_LCX}:ModelResult", "__init__"),),
    "langchain tool and retriever records": ((_LCX, "tool_output"), (_LCX, "documents_view")),
    "langchain model context": (("threadline_langchain._wrappers", "_handle_of"),),
}
LANGCHAIN = Workload("langchain", langchain_sync, langchain_async, LANGCHAIN_BUGS)


# --- LangGraph ----------------------------------------------------------------------------------------------


def _langgraph_config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def langgraph_sync() -> dict[str, Any]:
    import openai
    from langgraph.types import Command

    backend = FakeOpenAI()
    graph = support_graph(chat_openai(backend))
    out: dict[str, Any] = {
        "paused": plain(graph.invoke({"messages": [("user", "Say hello")]}, _langgraph_config("t-1")))
    }
    out["resumed"] = plain(graph.invoke(Command(resume="yes"), _langgraph_config("t-1")))
    stream = graph.stream({"messages": [("user", "Say hello")]}, _langgraph_config("t-2"), stream_mode="updates")
    out["stream"] = (type(stream), plain(list(stream)))
    with pytest.raises(openai.BadRequestError) as bad:
        support_graph(chat_openai(backend, temperature=9)).invoke(
            {"messages": [("user", "hi")]}, _langgraph_config("t-3")
        )
    out["framework error"] = (type(bad.value), str(bad.value), bad.value.status_code)
    error = UserError("raised in the user's node")
    with pytest.raises(UserError) as raised:
        support_graph(chat_openai(backend), node_error=error).invoke(
            {"messages": [("user", "hi")]}, _langgraph_config("t-4")
        )
    assert raised.value is error
    return out


async def langgraph_async() -> dict[str, Any]:
    import openai
    from langgraph.types import Command

    backend = FakeOpenAI()
    graph = support_graph(chat_openai(backend), is_async=True)
    out: dict[str, Any] = {
        "paused": plain(await graph.ainvoke({"messages": [("user", "Say hello")]}, _langgraph_config("t-1")))
    }
    out["resumed"] = plain(await graph.ainvoke(Command(resume="yes"), _langgraph_config("t-1")))
    stream = graph.astream({"messages": [("user", "Say hello")]}, _langgraph_config("t-2"), stream_mode="updates")
    out["stream"] = (type(stream), plain([u async for u in stream]))
    bad_graph = support_graph(chat_openai(backend, temperature=9), is_async=True)
    with pytest.raises(openai.BadRequestError) as bad:
        await bad_graph.ainvoke({"messages": [("user", "hi")]}, _langgraph_config("t-3"))
    out["framework error"] = (type(bad.value), str(bad.value), bad.value.status_code)
    error = UserError("raised in the user's node")
    failing = support_graph(chat_openai(backend), is_async=True, node_error=error)
    with pytest.raises(UserError) as raised:
        await failing.ainvoke({"messages": [("user", "hi")]}, _langgraph_config("t-4"))
    assert raised.value is error
    return out


_GH = "threadline_langgraph._handler:ThreadlineGraphCallbackHandler"
LANGGRAPH_BUGS: dict[str, tuple[Target, ...]] = {
    **HANDLER_BUGS,
    "langgraph graph records": ((_GH, "_graph_record"),),
    "langgraph node records": ((_GH, "_node_record"),),
    "langgraph turn input": (("threadline_langgraph._readable", "turn_input"),),
    "langgraph turn output": (("threadline_langgraph._readable", "turn_output"),),
    "langgraph interrupts": ((_GH, "on_interrupt"), (_GH, "_error_outcome")),
    "langgraph resumes": ((_GH, "_resume_of"), (_GH, "on_resume")),
    "langgraph steps": (("threadline_langgraph._wrappers", "_note_step"),),
}
LANGGRAPH = Workload("langgraph", langgraph_sync, langgraph_async, LANGGRAPH_BUGS)

WORKLOADS: list[Workload] = [OPENAI, LLAMAINDEX, LANGCHAIN, LANGGRAPH]
_MARKS = {"langchain": needs_langchain, "langgraph": needs_langgraph}

# Known gaps: (integration, bug label) -> an xfail mark. None today; add one only with a reported issue.
KNOWN_GAPS: dict[tuple[str, str], Any] = {}


def _marks(w: Workload, label: str) -> list[Any]:
    marks = [_MARKS[w.name]] if w.name in _MARKS else []
    gap = KNOWN_GAPS.get((w.name, label))
    return [*marks, gap] if gap is not None else marks


CASES = [
    pytest.param(w, label, is_async, id=f"{w.name}-{label}-{'async' if is_async else 'sync'}", marks=_marks(w, label))
    for w in WORKLOADS
    for label in w.bugs
    for is_async in (False, True)
]


@pytest.fixture(scope="module")
def baselines() -> dict[tuple[str, bool], dict[str, Any]]:
    """Each workload's outcome with threadline not instrumented."""
    return {}


@pytest.mark.parametrize(("workload", "label", "is_async"), CASES)
def test_a_bug_in_the_telemetry_path_changes_nothing_for_the_app(
    workload: Workload, label: str, is_async: bool, production_mode: None, baselines: dict[Any, Any]
) -> None:
    key = (workload.name, is_async)
    if key not in baselines:
        baselines[key] = workload.run(is_async)
    baseline = baselines[key]

    with capture(integrations=workload.integrations) as spans, pytest.MonkeyPatch.context() as mp:
        failures = FailureCount()
        injections = [inject(mp, _resolve(owner), attr) for owner, attr in workload.bugs[label]]
        observed = workload.run(is_async)

    assert observed == baseline
    never = [i.label for i in injections if i.hits == 0]
    if label in ANY_OF:
        assert len(never) < len(injections), f"the workload reached none of {never}: this case would test nothing"
    else:
        assert never == [], f"the workload never reached {never}: this case would test nothing"
    assert failures.new > 0
    del spans


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("workload", [pytest.param(w, id=w.name, marks=_MARKS.get(w.name, ())) for w in WORKLOADS])
def test_the_workloads_are_traced_when_nothing_is_broken(workload: Workload, is_async: bool) -> None:
    """The control case: the same workloads, instrumented and intact, produce spans and no internal error."""
    with capture(integrations=workload.integrations) as spans:
        failures = FailureCount()
        workload.run(is_async)
    assert failures.new == 0
    assert len(spans.finished()) >= 6
