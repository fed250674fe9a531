"""Content controls and secrets: what must never leave the process, checked in every exported byte.

Canary strings are planted in prompts, system instructions, completions, tool
arguments, tool results and retrieved documents of real framework calls, for
each integration. Spans go to an in-memory exporter (every attribute, event
and link attribute is scanned) and to the SQLite store (every byte of the
database files is scanned).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rel_kit import LANGCHAIN_READY, FakeOpenAI, chat_openai, find_text, needs_langchain, needs_langgraph, support_graph

import threadline
from tests.kit import CONTENT_ATTRIBUTES
from threadline import semconv as sc
from threadline.content import ERROR_TEXT_NOT_CAPTURED, render
from threadline.exporters.sqlite import SQLiteSpanExporter

CANARY = {
    "prompt": "CANARY-PROMPT-7f3a9",
    "system": "CANARY-SYSTEM-2b81c",
    "completion": "CANARY-COMPLETION-91bd4",
    "tool argument": "CANARY-TOOLARG-c04e7",
    "tool result": "CANARY-TOOLRESULT-5d2a0",
    "document": "CANARY-DOCUMENT-88e16",
    "interrupt": "CANARY-INTERRUPT-3f6d2",
    "resume": "CANARY-RESUME-7a0c9",
}
GRAPH_ONLY = ("interrupt", "resume")  # human-in-the-loop content: LangGraph's


MARKS = {"langchain": needs_langchain, "langgraph": needs_langgraph}


@dataclass(frozen=True)
class Workload:
    """Real calls of one integration with canaries planted in ``planted`` kinds of content."""

    integrations: tuple[str, ...]
    run: Callable[[], None]
    planted: tuple[str, ...]


# --- OpenAI ---------------------------------------------------------------------------------------------------


def _conversation() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": f"You are terse. {CANARY['system']}"},
        {"role": "user", "content": f"Find the order. {CANARY['prompt']}"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc123",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": json.dumps({"q": CANARY["tool argument"]})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc123", "content": f"order 42 {CANARY['tool result']}"},
    ]


def openai_run() -> None:
    backend = FakeOpenAI(reply=f"Done. {CANARY['completion']}")
    client, aclient = backend.clients()
    client.chat.completions.create(model="gpt-4o-mini", messages=_conversation())
    list(client.chat.completions.create(model="gpt-4o-mini", messages=_conversation(), stream=True))
    client.responses.create(model="gpt-4.1", instructions=CANARY["system"], input=CANARY["prompt"])
    client.embeddings.create(model="text-embedding-3-small", input=[CANARY["document"]])
    backend.tool_args = json.dumps({"q": CANARY["tool argument"]})  # the model asks for a tool call
    client.chat.completions.create(model="gpt-4o-mini", messages=_conversation()[:2])

    async def async_calls() -> None:
        backend.tool_args = None
        await aclient.chat.completions.create(model="gpt-4o-mini", messages=_conversation())
        stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=_conversation(), stream=True)
        [c async for c in stream]
        await aclient.close()

    asyncio.run(async_calls())


OPENAI = Workload(("openai",), openai_run, tuple(k for k in CANARY if k not in GRAPH_ONLY))


# --- LlamaIndex -----------------------------------------------------------------------------------------------


def llamaindex_run() -> None:
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
    from llama_index.core.llms import MockFunctionCallingLLM, MockLLM
    from llama_index.core.tools import FunctionTool

    from scenarios.llamaindex_apps import query_engine

    def lookup(q: str) -> str:
        """Look an order up."""
        return f"order 42 {CANARY['tool result']}"

    def model(messages: Any, **kwargs: Any) -> ChatMessage:
        if any(m.role == MessageRole.TOOL for m in messages):
            return ChatMessage(role="assistant", content=f"Done. {CANARY['completion']}")
        call = ToolCallBlock(tool_call_id="call_1", tool_name="lookup", tool_kwargs={"q": CANARY["tool argument"]})
        return ChatMessage(role="assistant", blocks=[call])

    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(fn=lookup)],
        llm=MockFunctionCallingLLM(response_generator=model),
        system_prompt=CANARY["system"],
    )

    async def run_agent() -> str:
        return str(await agent.run(user_msg=CANARY["prompt"]))

    assert CANARY["completion"] in asyncio.run(run_agent())
    query_engine([f"Orders ship in a day. {CANARY['document']}"]).query(CANARY["prompt"])
    MockLLM().complete(CANARY["prompt"])


LLAMAINDEX = Workload(("llamaindex",), llamaindex_run, tuple(k for k in CANARY if k not in GRAPH_ONLY))

# --- LangChain and LangGraph -------------------------------------------------------------------------------------


def _lookup_tool() -> Any:
    from langchain_core.tools import tool

    @tool
    def lookup(q: str) -> str:
        """Look an order up."""
        return f"order 42 {CANARY['tool result']}"

    return lookup


def langchain_run() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.vectorstores import InMemoryVectorStore

    backend = FakeOpenAI(reply=f"Done. {CANARY['completion']}")
    llm = chat_openai(backend)
    prompt = ChatPromptTemplate.from_messages([("system", CANARY["system"]), ("user", "{q}")])
    chain = prompt | llm | StrOutputParser()
    chain.invoke({"q": CANARY["prompt"]})
    list(chain.stream({"q": CANARY["prompt"]}))
    _lookup_tool().invoke({"q": CANARY["tool argument"]})
    store = InMemoryVectorStore.from_texts(
        [f"Orders ship in a day. {CANARY['document']}"], DeterministicFakeEmbedding(size=8)
    )
    store.as_retriever(search_kwargs={"k": 1}).invoke(CANARY["prompt"])
    backend.tool_args = json.dumps({"q": CANARY["tool argument"]})  # the model asks for a tool call
    asyncio.run(llm.bind_tools([_lookup_tool()]).ainvoke(CANARY["prompt"]))


def langgraph_run() -> None:
    from langgraph.types import Command

    backend = FakeOpenAI(reply=f"Done. {CANARY['completion']}")
    graph = support_graph(
        chat_openai(backend),
        question={"question": CANARY["interrupt"]},
        tool=_lookup_tool(),
        tool_input={"q": CANARY["tool argument"]},
    )
    config = {"configurable": {"thread_id": "chat-security-1"}}
    graph.invoke({"messages": [("system", CANARY["system"]), ("user", CANARY["prompt"])]}, config)
    graph.invoke(Command(resume=CANARY["resume"]), config)


WORKLOADS = {
    "openai": OPENAI,
    "llamaindex": LLAMAINDEX,
    "langchain": Workload(("langchain",), langchain_run, tuple(k for k in CANARY if k not in GRAPH_ONLY)),
    "langgraph": Workload(
        ("langgraph",), langgraph_run, ("prompt", "system", "completion", "tool argument", "tool result", *GRAPH_ONLY)
    ),
}
CASES = [pytest.param(name, id=name, marks=MARKS.get(name, ())) for name in WORKLOADS]


# --- running and scanning ---------------------------------------------------------------------------------------


def _traced(workload: Workload, tmp_path: Path, **options: Any) -> tuple[list[ReadableSpan], bytes]:
    """Run ``workload`` instrumented; return the exported spans and every byte of the store."""
    memory = InMemorySpanExporter()
    db = tmp_path / "security.db"
    threadline.instrument(
        exporter=[memory, SQLiteSpanExporter(db)], integrations=list(workload.integrations), **options
    )
    workload.run()
    spans = list(memory.get_finished_spans()) if threadline.flush(30) else []
    threadline.shutdown(30)
    assert spans, "nothing was traced: the scan below would prove nothing"
    stored = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("security.db*")))
    return spans, stored


def _in_store(stored: bytes, needles: Any) -> list[str]:
    return [n for n in needles if n.encode() in stored]


@pytest.mark.parametrize("name", CASES)
def test_capture_content_false_exports_no_content_at_all(name: str, tmp_path: Path) -> None:
    workload = WORKLOADS[name]
    spans, stored = _traced(workload, tmp_path, capture_content=False)
    planted = [CANARY[k] for k in workload.planted]
    assert find_text(spans, planted) == []
    assert _in_store(stored, planted) == []
    for span in spans:
        leaked = sorted(set(CONTENT_ATTRIBUTES) & set(span.attributes or {}))
        assert leaked == [], f"{span.name} carries {leaked}"


@pytest.mark.parametrize("name", CASES)
def test_with_capture_on_every_canary_is_exported(name: str, tmp_path: Path) -> None:
    """The control: the same workloads do put each planted text in the spans when capture is on."""
    workload = WORKLOADS[name]
    spans, stored = _traced(workload, tmp_path)
    for kind in workload.planted:
        assert find_text(spans, [CANARY[kind]]), f"the {kind} canary was never captured: the scan proves nothing"
        assert _in_store(stored, [CANARY[kind]]), f"the {kind} canary is not in the store"


@pytest.mark.parametrize("name", CASES)
def test_the_redaction_hook_sees_every_captured_value_first(name: str, tmp_path: Path) -> None:
    workload = WORKLOADS[name]
    seen: list[str] = []

    def redact(value: Any) -> str:
        seen.append(render(value))
        return "[redacted]"

    spans, stored = _traced(workload, tmp_path, redact=redact)
    planted = [CANARY[k] for k in workload.planted]
    assert find_text(spans, planted) == []
    assert _in_store(stored, planted) == []
    for kind in workload.planted:
        assert any(CANARY[kind] in text for text in seen), f"the hook never saw the {kind}"
    content = [(s.name, k, v) for s in spans for k, v in (s.attributes or {}).items() if k in CONTENT_ATTRIBUTES]
    assert content, "no content attribute at all: the hook's output was never exported"
    # What the dialects derive from a redacted value holds nothing else (e.g. a GenAI text part of it).
    assert [c for c in content if c[2] != "[redacted]" and c[1] not in sc.DIALECT_ONLY] == []
    derived = [c for c in content if c[1] in sc.DIALECT_ONLY]
    assert all("[redacted]" in c[2] for c in derived), derived


# --- secrets ------------------------------------------------------------------------------------------------------

SECRET = {
    "api key": "sk-SECRET-apikey-0a1b2c3d",
    "authorization header": "Bearer SECRET-authheader-4e5f",
    "cookie": "session=SECRET-cookie-6a7b",
    "second cookie": "csrftoken=SECRET-cookie2-8c9d",
    "x-api-key header": "SECRET-xapikey-0e1f",
    "organization": "org-SECRETorg2a3b",
    "project": "proj_SECRETproj4c5d",
    "query credential": "SECRET-querykey-6e7f",
}


def test_api_keys_authorization_headers_and_cookies_are_never_captured(tmp_path: Path) -> None:
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.llms.openai import OpenAI as LlamaOpenAI

    backend = FakeOpenAI()
    headers = {"Cookie": SECRET["cookie"], "X-Api-Key": SECRET["x-api-key header"]}

    def run() -> None:
        client, aclient = backend.clients(
            api_key=SECRET["api key"],
            organization=SECRET["organization"],
            project=SECRET["project"],
            default_headers=headers,
        )
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        list(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                extra_headers={"Cookie": SECRET["second cookie"]},
                extra_query={"key": SECRET["query credential"]},
            )
        )
        bearer, _ = backend.clients(default_headers={"Authorization": SECRET["authorization header"]})
        bearer.embeddings.create(model="text-embedding-3-small", input=["hi"])
        asyncio.run(aclient.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]))
        llm = LlamaOpenAI(
            model="gpt-4o-mini",
            api_key=SECRET["api key"],
            default_headers=headers,
            max_retries=0,
            http_client=httpx.Client(transport=httpx.MockTransport(backend)),
        )
        llm.chat([ChatMessage(role="user", content="hi")])
        if LANGCHAIN_READY:
            chat = chat_openai(
                backend, api_key=SECRET["api key"], organization=SECRET["organization"], default_headers=headers
            )
            chat.invoke("hi", config={"metadata": {"session_id": "chat-secrets"}})

    integrations = ("openai", "llamaindex", "langchain") if LANGCHAIN_READY else ("openai", "llamaindex")
    workload = Workload(integrations, run, ())
    spans, stored = _traced(workload, tmp_path)  # content capture on: the worst case

    sent = "\n".join(f"{r.url}\n{r.headers!r}" for r in backend.requests)
    headers_sent = [dict(r.headers) for r in backend.requests]
    assert any(h.get("authorization") == f"Bearer {SECRET['api key']}" for h in headers_sent)
    for label, secret in SECRET.items():
        assert secret in sent or any(secret in v for h in headers_sent for v in h.values()), f"{label} never sent"
    assert {s.attributes[sc.INTEGRATION] for s in spans} == set(integrations)
    assert find_text(spans, SECRET.values()) == []
    assert _in_store(stored, SECRET.values()) == []


# --- error text --------------------------------------------------------------------------------------------------

ERROR_CANARY = {
    "parser": "CANARY-PARSED-COMPLETION-e51",
    "tool": "CANARY-TYPED-TOOLARG-6c2",
    "structured": "CANARY-STRUCTURED-OUTPUT-0d9",
    "node": "CANARY-NODE-ERROR-a4f",
}


def _raises(call: Callable[[], Any]) -> None:
    try:
        call()
    except Exception:  # noqa: BLE001 - the workload's errors are the point; the app sees them unchanged
        return
    raise AssertionError("the call was meant to raise")


def error_run() -> None:
    """Errors whose messages quote content: a completion that is not JSON, a typed tool's bad argument,
    a structured output that does not validate, and a graph node's error."""
    from langchain_core.output_parsers import JsonOutputParser
    from langchain_core.tools import tool
    from pydantic import BaseModel

    backend = FakeOpenAI(reply=f"Sure! {ERROR_CANARY['parser']}")
    _raises(lambda: (chat_openai(backend) | JsonOutputParser()).invoke("give me JSON"))

    @tool
    def refund(order_id: int) -> str:
        """Refund an order."""
        return "refunded"

    _raises(lambda: refund.invoke({"order_id": ERROR_CANARY["tool"]}))

    class Order(BaseModel):
        order_id: int

    client, _ = FakeOpenAI(reply=json.dumps({"order_id": ERROR_CANARY["structured"]})).clients()
    _raises(lambda: client.chat.completions.parse(model="gpt-4o-mini", messages=[], response_format=Order))

    graph = support_graph(chat_openai(FakeOpenAI()), node_error=ValueError(f"bad state {ERROR_CANARY['node']}"))
    _raises(lambda: graph.invoke({"messages": [("user", "hi")]}, {"configurable": {"thread_id": "chat-errors"}}))


ERRORS = Workload(("openai", "langchain", "langgraph"), error_run, ())


def _errored(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.status is not None and s.status.status_code.name == "ERROR"]


@needs_langgraph
def test_with_capture_off_error_messages_and_stack_traces_are_not_exported(tmp_path: Path) -> None:
    spans, stored = _traced(ERRORS, tmp_path, capture_content=False)
    assert find_text(spans, ERROR_CANARY.values()) == []
    assert _in_store(stored, ERROR_CANARY.values()) == []
    errored = _errored(spans)
    types = {s.attributes[sc.ERROR_TYPE] for s in errored}
    assert {"OutputParserException", "ValidationError", "ValueError"} <= types  # every error is still there
    for span in errored:
        assert span.status.description.endswith(ERROR_TEXT_NOT_CAPTURED), span.status.description
        (event,) = [e for e in span.events if e.name == "exception"]
        assert event.attributes["exception.message"] == ERROR_TEXT_NOT_CAPTURED
        assert "exception.stacktrace" not in event.attributes


@needs_langgraph
@pytest.mark.parametrize("options", [{}, {"capture_content": False, "capture_exception_text": True}])
def test_error_text_is_exported_when_captured(options: dict[str, Any], tmp_path: Path) -> None:
    """The control: with capture on (or exception text opted in), every planted message is exported."""
    spans, stored = _traced(ERRORS, tmp_path, **options)
    for label, canary in ERROR_CANARY.items():
        assert find_text(spans, [canary]), f"the {label} error text was never captured: the scan proves nothing"
        assert _in_store(stored, [canary]), f"the {label} error text is not in the store"
    assert any("exception.stacktrace" in e.attributes for s in _errored(spans) for e in s.events)


@needs_langgraph
def test_the_redaction_hook_sees_exception_messages(tmp_path: Path) -> None:
    seen: list[str] = []

    def redact(value: Any) -> str:
        seen.append(render(value))
        return "[redacted]"

    spans, stored = _traced(ERRORS, tmp_path, redact=redact)
    assert find_text(spans, ERROR_CANARY.values()) == []
    assert _in_store(stored, ERROR_CANARY.values()) == []
    for label, canary in ERROR_CANARY.items():
        assert any(canary in text for text in seen), f"the hook never saw the {label} error"
    assert {s.status.description.split(": ", 1)[1] for s in _errored(spans)} == {"[redacted]"}


ECHOED = {
    "openai key": "sk-proj-SECRETechoed0a1b2c3d4e5f",
    "starred key": "sk-proj-****************************9z8y",
    "bearer token": "eyJhbGciOiJIUzI1NiJ9.SECRETjwt.payload",
    "client key": "3f9c2a7d81b64e0fa5c3SECRETazurekey",  # no known shape: masked because the client used it
}


def test_secrets_a_server_echoes_in_an_error_are_masked(tmp_path: Path) -> None:
    def server(request: httpx.Request) -> httpx.Response:
        message = (
            f"Incorrect API key provided: {ECHOED['openai key']} (also {ECHOED['starred key']}); "
            f"got header Authorization: Bearer {ECHOED['bearer token']} with key {ECHOED['client key']}."
        )
        body = {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}
        return httpx.Response(401, json=body)

    def run() -> None:
        import openai

        client = openai.OpenAI(
            api_key=ECHOED["client key"],
            base_url="https://example-resource.openai.azure.com/openai/v1",
            max_retries=0,
            http_client=httpx.Client(transport=httpx.MockTransport(server)),
        )
        with pytest.raises(openai.AuthenticationError) as raised:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert ECHOED["openai key"] in str(raised.value)  # the app's own exception is untouched

    spans, stored = _traced(Workload(("openai",), run, ()), tmp_path)  # content capture on: the worst case
    assert find_text(spans, ECHOED.values()) == []
    assert _in_store(stored, ECHOED.values()) == []
    (span,) = _errored(spans)
    assert span.status.description.startswith("AuthenticationError: Error code: 401")
    assert "Incorrect API key provided: sk-[masked]" in span.status.description  # the rest of the message is kept
    (event,) = [e for e in span.events if e.name == "exception"]
    assert "Bearer [masked]" in event.attributes["exception.message"]
    assert "Incorrect API key provided" in event.attributes["exception.stacktrace"]
