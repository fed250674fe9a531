"""The OpenAI API at the HTTP boundary: documented response bodies and a mock backend.

The real ``openai`` client (and anything built on it: ``ChatOpenAI``,
LlamaIndex's ``OpenAI``) talks to :class:`FakeOpenAI` through
``httpx.MockTransport``; the bodies are shaped as the OpenAI API reference
documents them, usage details included.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
BASE_URL = "https://api.openai.com/v1"


def chat_usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """A ``usage`` object of a chat completion, with its (zero) details."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(
    text: str,
    *,
    model: str = RESPONSE_MODEL,
    tool_args: str | None = None,
    usage: tuple[int, int] = (19, 10),
) -> dict[str, Any]:
    """A ``chat.completion`` object as documented (POST /v1/chat/completions); ``usage`` is (prompt, completion)."""
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
        "usage": chat_usage(*usage),
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
    }


def chat_chunks(
    text: str | Sequence[str], *, model: str = RESPONSE_MODEL, usage: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """``chat.completion.chunk`` objects of a stream with ``include_usage``: deltas, the finish, then the usage.

    ``text`` is streamed in two deltas, or one delta per piece when it is a
    sequence; ``usage`` defaults to 9 prompt and 2 completion tokens.
    """
    base = {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": model,
        "system_fingerprint": "fp_44709d6fcb",
    }
    pieces = [text[: len(text) // 2], text[len(text) // 2 :]] if isinstance(text, str) else list(text)
    deltas = [{"role": "assistant", "content": "", "refusal": None}, *({"content": piece} for piece in pieces)]
    choices = [{"index": 0, "delta": d, "logprobs": None, "finish_reason": None} for d in deltas]
    choices.append({"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"})
    return [
        *({**base, "choices": [c], "usage": None} for c in choices),
        {**base, "choices": [], "usage": usage or {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}},
    ]


def sse(chunks: Sequence[dict[str, Any]]) -> bytes:
    """The server-sent-events body of a stream of ``chunks``, ``[DONE]`` included."""
    return b"".join(f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks) + b"data: [DONE]\n\n"


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


def mock_clients(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> tuple[Any, Any]:
    """A sync and an async ``openai`` client whose HTTP goes to ``handler`` (no network, no retries)."""
    import openai

    options.setdefault("api_key", "sk-test-not-a-real-key")
    options.setdefault("max_retries", 0)
    options.setdefault("base_url", BASE_URL)
    sync = openai.OpenAI(http_client=httpx.Client(transport=httpx.MockTransport(handler)), **options)
    aio = openai.AsyncOpenAI(http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)), **options)
    return sync, aio


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

    ``reply`` is the assistant text (``{last}`` stands for the last user
    message); ``model`` the model it reports; a request with
    ``temperature == 9`` gets the documented 400; ``transport_error`` is raised
    by the transport itself (the SDK re-raises its own error types unchanged);
    ``break_stream`` makes streams fail after their first event.
    """

    reply: str = "Hello! How can I assist you today?"
    model: str = RESPONSE_MODEL
    tool_args: str | None = None
    transport_error: BaseException | None = None
    break_stream: BaseException | None = None
    request_id: str = "req_reliability"
    requests: list[httpx.Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        if self.transport_error is not None:
            raise self.transport_error
        body = json.loads(request.content or b"{}")
        headers = {"x-request-id": self.request_id}
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
        return mock_clients(self, **options)


@contextmanager
def replay(cassette: Path) -> Iterator[Any]:
    """Replay ``cassette`` with vcrpy (never record), matching bodies too; every interaction must be used."""
    import vcr

    recorder = vcr.VCR(
        record_mode="none",
        match_on=("method", "scheme", "host", "port", "path", "query", "body"),
        filter_headers=["authorization", "api-key", "openai-organization", "openai-project", "cookie"],
        decode_compressed_response=True,
    )
    with recorder.use_cassette(str(cassette), allow_playback_repeats=False) as cass:
        yield cass
    assert cass.all_played, f"not every interaction of {cassette.name} was used"
