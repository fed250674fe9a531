"""Shared helpers of the reliability suite: a mock OpenAI backend, span scanners, fault injection.

The only fakes are at the model boundary: the real ``openai`` client talks to
``FakeOpenAI`` through ``httpx.MockTransport`` (bodies as documented in the
OpenAI API reference), LlamaIndex runs ``MockLLM`` / ``MockEmbedding``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from threadline import guard

MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"


def has_module(name: str) -> bool:
    """True when ``name`` can be imported here."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


LANGGRAPH_READY = has_module("threadline_langgraph") and has_module("langgraph")
LANGCHAIN_READY = has_module("threadline_langchain") and has_module("langchain_core")
needs_langgraph = pytest.mark.skipif(
    not LANGGRAPH_READY, reason="threadline-langgraph is not installed yet (integrations/langgraph is being written)"
)
needs_langchain = pytest.mark.skipif(
    not LANGCHAIN_READY, reason="threadline-langchain is not installed yet (integrations/langchain is being written)"
)


# --- the OpenAI backend ------------------------------------------------------------------------------


def chat_completion(text: str, *, model: str = RESPONSE_MODEL, tool_args: str | None = None) -> dict[str, Any]:
    """A ``chat.completion`` object as documented (POST /v1/chat/completions), usage details included."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    if tool_args is not None:
        message["content"] = None
        message["tool_calls"] = [
            {"id": "call_abc123", "type": "function", "function": {"name": "lookup", "arguments": tool_args}}
        ]
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if tool_args is not None else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 19,
            "completion_tokens": 10,
            "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
    }


def chat_chunks(text: str, *, model: str = RESPONSE_MODEL) -> list[dict[str, Any]]:
    """``chat.completion.chunk`` objects of a stream of ``text`` (two deltas), with a final usage chunk."""
    base = {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": model,
        "system_fingerprint": "fp_44709d6fcb",
    }
    half = len(text) // 2
    return [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": text[:half]}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": text[half:]}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}},
    ]


def response_object(text: str, *, model: str = "gpt-4.1-2025-04-14") -> dict[str, Any]:
    """A Responses API ``response`` object as documented (POST /v1/responses)."""
    return {
        "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
        "object": "response",
        "created_at": 1741476542,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": [
            {
                "type": "message",
                "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": 36,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 87,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 123,
        },
        "user": None,
        "metadata": {},
    }


def embedding_list(n: int) -> dict[str, Any]:
    """An embeddings ``list`` object as documented (POST /v1/embeddings)."""
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": [0.0023064255, -0.009327292, 0.015797347]}
            for i in range(n)
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }


BAD_REQUEST = {
    "error": {
        "message": "Invalid value for 'temperature': must be between 0 and 2.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "invalid_value",
    }
}


class BrokenStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """An SSE body that breaks after its first event (the connection drops mid-stream)."""

    def __init__(self, first: bytes, error: BaseException) -> None:
        self.first = first
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        yield self.first
        raise self.error

    async def __aiter__(self) -> Any:
        yield self.first
        raise self.error


@dataclass
class FakeOpenAI:
    """The OpenAI API behind ``httpx.MockTransport``: answers by route, records what it received.

    ``reply`` is the assistant text; ``model`` the model it reports; a request
    with ``temperature == 9`` gets the documented 400; ``transport_error`` is
    raised by the transport itself (the SDK re-raises its own error types
    unchanged); ``break_stream`` makes streams fail after their first event.
    """

    reply: str = "Hello! How can I assist you today?"
    model: str = RESPONSE_MODEL
    tool_args: str | None = None
    transport_error: BaseException | None = None
    break_stream: BaseException | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        if self.transport_error is not None:
            raise self.transport_error
        body = json.loads(request.content or b"{}")
        headers = {"x-request-id": "req_reliability"}
        if body.get("temperature") == 9:
            return httpx.Response(400, json=BAD_REQUEST, headers=headers)
        path = request.url.path
        if path.endswith("/embeddings"):
            given = body.get("input")
            return httpx.Response(
                200, json=embedding_list(len(given) if isinstance(given, list) else 1), headers=headers
            )
        if path.endswith("/responses"):
            return httpx.Response(200, json=response_object(self.reply), headers=headers)
        reply = self.reply_for(body)
        if body.get("stream"):
            events = [f"data: {json.dumps(c)}\n\n".encode() for c in chat_chunks(reply, model=self.model)]
            sse_headers = {**headers, "content-type": "text/event-stream"}
            if self.break_stream is not None:
                return httpx.Response(200, stream=BrokenStream(events[1], self.break_stream), headers=sse_headers)
            return httpx.Response(200, content=b"".join(events) + b"data: [DONE]\n\n", headers=sse_headers)
        return httpx.Response(
            200, json=chat_completion(reply, model=self.model, tool_args=self.tool_args), headers=headers
        )

    def reply_for(self, body: dict[str, Any]) -> str:
        """The reply text (``{last}`` is replaced by the last user message, to tell concurrent calls apart)."""
        if "{last}" not in self.reply:
            return self.reply
        messages = body.get("messages") or [{}]
        return self.reply.replace("{last}", str(messages[-1].get("content")))

    def clients(self, **options: Any) -> tuple[Any, Any]:
        """A sync and an async ``openai`` client sending to this backend."""
        import openai

        options.setdefault("api_key", "sk-test-not-a-real-key")
        options.setdefault("max_retries", 0)
        sync = openai.OpenAI(
            base_url="https://api.openai.com/v1",
            http_client=httpx.Client(transport=httpx.MockTransport(self)),
            **options,
        )
        aio = openai.AsyncOpenAI(
            base_url="https://api.openai.com/v1",
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(self)),
            **options,
        )
        return sync, aio


# --- reading exported spans --------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def span_texts(span: Any) -> Iterator[tuple[str, str]]:
    """Every text a span exports, as ``(where, text)``: name, status, attributes, events, links, resource."""
    yield "name", span.name
    if span.status is not None and span.status.description:
        yield "status", span.status.description
    for key, value in (span.attributes or {}).items():
        for text in _strings(value):
            yield f"attribute {key}", text
    for event in span.events or ():
        yield "event name", event.name
        for key, value in (event.attributes or {}).items():
            for text in _strings(value):
                yield f"event {event.name} attribute {key}", text
    for link in span.links or ():
        for key, value in (link.attributes or {}).items():
            for text in _strings(value):
                yield f"link attribute {key}", text
    if span.resource is not None:
        for key, value in span.resource.attributes.items():
            for text in _strings(value):
                yield f"resource {key}", text


def find_text(spans: Any, needles: Any) -> list[str]:
    """Where any of ``needles`` occurs in any exported text of ``spans`` (``[]`` when nowhere)."""
    found = []
    for span in spans:
        for where, text in span_texts(span):
            for needle in needles:
                if needle in text:
                    found.append(f"{needle!r} in {span.name!r} {where}")
    return found


# --- fault injection -----------------------------------------------------------------------------------


class InjectedBugError(Exception):
    """The bug planted in threadline's telemetry path."""


@dataclass
class Injection:
    """A function replaced by one that raises :class:`InjectedBugError`, counting the calls it swallowed."""

    label: str
    hits: int = 0

    def raiser(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def broken(*args: Any, **kwargs: Any) -> Any:
            self.hits += 1
            raise InjectedBugError(f"bug injected into {self.label}")

        broken.__wrapped__ = original  # type: ignore[attr-defined]
        return broken


def inject(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> Injection:
    """Make ``owner.name`` raise, and every module-level alias of that same function too.

    Integrations import helpers by name (``from threadline.usage import
    usage_from_openai``): patching only the defining module would miss them.
    """
    original = getattr(owner, name)
    label = f"{getattr(owner, '__name__', owner)}.{name}"
    injection = Injection(label)
    broken = injection.raiser(original)
    monkeypatch.setattr(owner, name, broken)
    if not isinstance(owner, type):
        for module_name, module in list(sys.modules.items()):
            if not module_name.startswith("threadline") or module is None or module is owner:
                continue
            if getattr(module, name, None) is original:
                monkeypatch.setattr(module, name, broken)
    return injection


class FailureCount:
    """How many internal failures threadline's guard reported since creation."""

    def __init__(self) -> None:
        self.start = guard.failure_count

    @property
    def new(self) -> int:
        return guard.failure_count - self.start


# --- LangChain / LangGraph builders (imported lazily: the integrations may be missing) ---------------------


def chat_openai(backend: FakeOpenAI, **options: Any) -> Any:
    """LangChain's real ``ChatOpenAI`` sending to ``backend``."""
    from langchain_openai import ChatOpenAI

    options.setdefault("api_key", "sk-test-not-a-real-key")
    return ChatOpenAI(
        model=MODEL,
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(backend)),
        http_async_client=httpx.AsyncClient(transport=httpx.MockTransport(backend)),
        **options,
    )


def plain(value: Any) -> Any:
    """Comparable plain data: messages as ``(type, content)``, interrupts as their value (their ids are random)."""
    kind = type(value).__name__
    if kind == "Interrupt" and hasattr(value, "value"):
        return ("interrupt", plain(value.value))
    if isinstance(getattr(value, "type", None), str) and hasattr(value, "content"):
        return (value.type, value.content, plain(getattr(value, "tool_calls", None) or []))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k != "id"}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def support_graph(
    llm: Any,
    *,
    is_async: bool = False,
    node_error: BaseException | None = None,
    name: str = "support",
    question: Any = None,
    tool: Any = None,
    tool_input: Any = None,
) -> Any:
    """A real ``StateGraph`` (``InMemorySaver``): the model answers, then a human approves (``interrupt``).

    With ``is_async`` the model node is a coroutine (``ainvoke`` all the way down).
    ``question`` is the interrupt payload; ``tool`` (a LangChain tool) is
    called with ``tool_input`` by the model node, its result kept in ``facts``.
    """
    from typing import Annotated, TypedDict

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.graph.message import add_messages
    from langgraph.types import interrupt

    # The functional form: its types are evaluated here (this module has postponed annotations).
    State = TypedDict(  # noqa: UP013
        "State", {"messages": Annotated[list, add_messages], "approved": Any, "facts": Any}, total=False
    )
    payload = question if question is not None else {"question": "Send this answer?"}

    def agent(state: State) -> dict[str, Any]:
        if node_error is not None:
            raise node_error
        update: dict[str, Any] = {"messages": [llm.invoke(state["messages"])]}
        if tool is not None:
            update["facts"] = tool.invoke(tool_input)
        return update

    async def aagent(state: State) -> dict[str, Any]:
        if node_error is not None:
            raise node_error
        update: dict[str, Any] = {"messages": [await llm.ainvoke(state["messages"])]}
        if tool is not None:
            update["facts"] = await tool.ainvoke(tool_input)
        return update

    def review(state: State) -> dict[str, Any]:
        return {"approved": interrupt(payload)}

    builder = StateGraph(State)
    builder.add_node("agent", aagent if is_async else agent)
    builder.add_node("review", review)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "review")
    builder.add_edge("review", END)
    return builder.compile(checkpointer=InMemorySaver(), name=name)


def echo_chat_model() -> Any:
    """A LangChain chat model faked at the model boundary: answers ``answer to <last message>``, with usage."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class EchoChatModel(BaseChatModel):
        model_name: str = MODEL

        @property
        def _llm_type(self) -> str:
            return "echo-chat"

        def _get_ls_params(self, stop: Any = None, **kwargs: Any) -> Any:
            return {"ls_provider": "openai", "ls_model_name": self.model_name, "ls_model_type": "chat"}

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
            usage = {"input_tokens": 19, "output_tokens": 10, "total_tokens": 29}
            reply = AIMessage(content=f"answer to {messages[-1].content}", usage_metadata=usage)
            return ChatResult(generations=[ChatGeneration(message=reply)])

    return EchoChatModel()
