"""Tokens and cost by provider: what each LangChain integration reports, read back from the SQLite store.

Every test runs a real ``StateGraph`` (``InMemorySaver``, two turns on one ``thread_id``) with
threadline instrumented and its default SQLite store, and checks the session row a user sees:
its token totals equal what the provider reported for the two calls, and its cost equals
genai-prices' price for that usage (``genai_prices.calc_price`` and, for Anthropic's cache writes,
the per-million rates of genai-prices' price table done out by hand in ``Decimal``).

Where the integration is light and httpx-based it runs for real over an ``httpx.MockTransport``
that answers with the provider's raw JSON: ``ChatAnthropic`` (the ``anthropic`` client), ``ChatOpenAI``
(the ``openai`` client), ``ChatMistralAI`` and ``ChatOllama`` (the ``ollama`` client). The Google and
Bedrock integrations need their cloud SDKs (google-genai / google-cloud-aiplatform, boto3), so their
``AIMessage`` is built from the raw usage exactly as the integration's conversion function does (named
in each test) and returned by a chat model faked at the model boundary.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price, extract_usage
from genai_prices.data_snapshot import get_snapshot
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph

import threadline
from scenarios.chat_models import ScriptedChatModel
from threadline import semconv as sc
from threadline.store import queries

MILLION = Decimal(1_000_000)


# --- the run and the stored session ------------------------------------------------------------


def _graph(model: Any) -> Any:
    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    return builder.compile(checkpointer=InMemorySaver(), name="support")


def _stored_session(model: Any, thread_id: str, turns: int = 2) -> queries.SessionSummary:
    """Run ``turns`` turns of a one-node graph on ``thread_id`` and read its session back from the store."""
    threadline.instrument(integrations=["langchain", "langgraph"])
    graph = _graph(model)
    for n in range(turns):
        graph.invoke({"messages": [("user", f"question {n + 1}")]}, {"configurable": {"thread_id": thread_id}})
    assert threadline.flush()
    (session,) = queries.list_sessions(Path(os.environ["THREADLINE_DB"]), session_ids=[thread_id])
    assert session.traces == turns
    return session


def _model_spans(thread_id: str) -> list[dict[str, Any]]:
    """The stored attributes of the session's model spans (those carrying usage)."""
    db = Path(os.environ["THREADLINE_DB"])
    spans = []
    for trace in queries.list_traces(db, session_id=thread_id):
        detail = queries.get_trace(db, trace.trace_id)
        assert detail is not None
        spans += [s.attributes for s in detail.spans if sc.GEN_AI_USAGE_INPUT_TOKENS in s.attributes]
    return spans


def _assert_tokens(session: queries.SessionSummary, expected: Sequence[PriceUsage]) -> None:
    """Session totals equal the sum of the provider-reported usage of its calls."""

    def total(key: str) -> int:
        return sum(int(u.__dict__.get(key, 0)) for u in expected)

    assert session.input_tokens == total("input_tokens")
    assert session.output_tokens == total("output_tokens")
    assert (session.cache_read_tokens or 0) == total("cache_read_tokens")
    assert (session.cache_write_tokens or 0) == total("cache_write_tokens")
    assert (session.reasoning_tokens or 0) == total("output_reasoning_tokens")


def _assert_cost(session: queries.SessionSummary, expected: Sequence[PriceUsage], model: str, provider: str) -> None:
    """The session's cost is genai-prices' price of each call, summed (to a billionth of a dollar)."""
    price = sum((calc_price(u, model, provider_id=provider).total_price for u in expected), Decimal(0))
    assert session.cost_usd is not None
    assert Decimal(str(session.cost_usd)).quantize(Decimal("1e-9")) == price.quantize(Decimal("1e-9"))


def _rates(provider: str, model: str) -> dict[str, Decimal]:
    """genai-prices' per-million-token rates for ``model`` today (flat: the tests stay below any tier)."""
    _, info = get_snapshot().find_provider_model(model, None, provider, None)
    prices = info.get_prices(datetime.now(tz=timezone.utc))
    out = {}
    for key in ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok"):
        value = getattr(prices, key)
        if value is not None:
            out[key] = value if isinstance(value, Decimal) else value.base
    return out


def _transport(bodies: list[Any], seen: list[Any] | None = None, http: ModuleType = httpx) -> Any:
    """Answers each request with the next raw body (a dict as JSON, a list of dicts as NDJSON, bytes as SSE).

    ``http`` is the HTTP library the SDK uses: ``httpx``, or ``httpx2`` for the anthropic SDK.
    """
    queue = list(bodies)

    def handle(request: Any) -> Any:
        if seen is not None:
            seen.append(request)
        body = queue.pop(0)
        if isinstance(body, list):
            return http.Response(200, content="".join(json.dumps(b) + "\n" for b in body).encode())
        if isinstance(body, bytes):
            return http.Response(200, content=body, headers={"content-type": "text/event-stream"})
        return http.Response(200, json=body)

    return http.MockTransport(handle)


# --- Anthropic: ChatAnthropic over the real anthropic client -----------------------------------


def _anthropic_message(model: str, usage: dict[str, Any], text: str = "Your refund is on its way.") -> dict[str, Any]:
    """A Messages API response, as the API documents it."""
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"service_tier": "standard", **usage},
    }


@pytest.fixture
def anthropic_transport(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[list[Any]], list[Any]]]:
    """Point ``ChatAnthropic`` at a mock transport.

    ``ChatAnthropic._client`` builds a real ``anthropic.Client`` from its own parameters with the
    HTTP client returned by ``_get_default_httpx_client``; only that client is replaced (by an
    ``httpx2`` client, the HTTP library the anthropic SDK uses).
    """
    import httpx2
    from langchain_anthropic import chat_models

    def install(bodies: list[Any]) -> list[Any]:
        seen: list[Any] = []
        transport = _transport(bodies, seen, httpx2)

        def client(*, base_url: str | None, **_: Any) -> Any:
            return httpx2.Client(base_url=base_url or "https://api.anthropic.com", transport=transport)

        monkeypatch.setattr(chat_models, "_get_default_httpx_client", client)
        return seen

    yield install


def _chat_anthropic(model: str, **kwargs: Any) -> Any:
    from langchain_anthropic import ChatAnthropic

    return ChatAnthropic(model=model, api_key="sk-ant-test", max_retries=0, **kwargs)


def _anthropic_price_usage(raw: dict[str, Any], model: str = "claude-3-5-sonnet-20241022") -> PriceUsage:
    """genai-prices' reading of an Anthropic ``usage`` object."""
    return extract_usage(_anthropic_message(model, raw), provider_id="anthropic").usage


CLAUDE_35 = "claude-3-5-sonnet-20241022"


def _claude_usage(fresh: int, out: int, *, read: int = 0, write_5m: int = 0, write_1h: int = 0) -> dict[str, Any]:
    """A current Messages API ``usage``: cache writes as a total and as the ``cache_creation`` TTL breakdown."""
    return {
        "input_tokens": fresh,
        "cache_creation_input_tokens": write_5m + write_1h,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
        "output_tokens": out,
    }


def test_anthropic_cache_writes_in_the_ttl_breakdown_are_counted_and_priced(anthropic_transport: Any) -> None:
    # Turn 1 writes 300 tokens to the 5-minute cache; turn 2 reads them and writes 200 more to the 1-hour
    # cache. Current responses report writes both as cache_creation_input_tokens and in the cache_creation
    # breakdown; langchain-anthropic then sets input_token_details.cache_creation to 0.
    turn1 = _claude_usage(20, 95, write_5m=300)
    turn2 = _claude_usage(35, 60, read=300, write_1h=200)
    requests = anthropic_transport([_anthropic_message(CLAUDE_35, turn1), _anthropic_message(CLAUDE_35, turn2)])

    session = _stored_session(_chat_anthropic(CLAUDE_35), "anthropic-cache")

    assert [r.url.path for r in requests] == ["/v1/messages", "/v1/messages"]
    assert (session.input_tokens, session.output_tokens) == (20 + 300 + 35 + 200 + 300, 95 + 60)
    assert (session.cache_read_tokens, session.cache_write_tokens) == (300, 500)
    # By hand from genai-prices' rates: uncached input, 5-minute writes, 1-hour writes, reads, output.
    r = _rates("anthropic", CLAUDE_35)
    assert r["cache_write_1h_mtok"] != r["cache_write_mtok"]
    by_hand = (
        (20 + 35) * r["input_mtok"]
        + 300 * r["cache_write_mtok"]
        + 200 * r["cache_write_1h_mtok"]
        + 300 * r["cache_read_mtok"]
        + (95 + 60) * r["output_mtok"]
    ) / MILLION
    assert session.cost_usd is not None
    assert Decimal(str(session.cost_usd)).quantize(Decimal("1e-9")) == by_hand.quantize(Decimal("1e-9"))
    expected = [_anthropic_price_usage(turn1), _anthropic_price_usage(turn2)]
    _assert_tokens(session, expected)
    _assert_cost(session, expected, CLAUDE_35, "anthropic")
    first, second = sorted(_model_spans("anthropic-cache"), key=lambda a: a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS])
    assert first[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 300
    assert sc.USAGE_CACHE_CREATION_1H not in first
    assert second[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 200
    assert second[sc.USAGE_CACHE_CREATION_1H] == 200


def test_anthropic_issue_example_costs_the_cache_write_rate(anthropic_transport: Any) -> None:
    # The reported case: 300 cache-write tokens on claude-3-5-sonnet came out as 0 written, priced as input.
    raw = _claude_usage(20, 95, write_5m=300)
    anthropic_transport([_anthropic_message(CLAUDE_35, raw)])
    session = _stored_session(_chat_anthropic(CLAUDE_35), "anthropic-example", turns=1)
    r = _rates("anthropic", CLAUDE_35)
    right = (20 * r["input_mtok"] + 300 * r["cache_write_mtok"] + 95 * r["output_mtok"]) / MILLION
    wrong = (320 * r["input_mtok"] + 95 * r["output_mtok"]) / MILLION
    assert session.cache_write_tokens == 300
    assert round(Decimal(str(session.cost_usd)), 6) == round(right, 6) != round(wrong, 6)


def test_anthropic_stream_thinking_and_generic_cache_writes(anthropic_transport: Any) -> None:
    # A streamed call: message_delta's usage has cache_creation_input_tokens but no TTL breakdown, so
    # langchain-anthropic reports the writes in cache_creation; thinking tokens are part of the output.
    model = "claude-sonnet-4-5-20250929"
    final_usage = {
        "input_tokens": 12,
        "cache_creation_input_tokens": 1024,
        "cache_read_input_tokens": 2048,
        "output_tokens": 400,
        "output_tokens_details": {"thinking_tokens": 250},
    }
    start = _anthropic_message(model, {"input_tokens": 12, "output_tokens": 1}, text="")
    start["content"] = []
    events = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Done."}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": final_usage,
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    sse = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()
    anthropic_transport([sse, sse])

    session = _stored_session(_chat_anthropic(model, streaming=True), "anthropic-stream")

    expected = [_anthropic_price_usage(final_usage, model)] * 2
    _assert_tokens(session, expected)
    assert session.reasoning_tokens == 500
    _assert_cost(session, expected, model, "anthropic")


# --- OpenAI: ChatOpenAI over the real openai client --------------------------------------------


def test_openai_cached_and_reasoning_tokens() -> None:
    from langchain_openai import ChatOpenAI

    model = "o3-mini-2025-01-31"

    def completion(prompt: int, cached: int, completion: int, reasoning: int) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1733000000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Refund issued."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
            },
        }

    raw = [completion(1800, 1024, 700, 512), completion(2100, 1792, 300, 128)]
    client = httpx.Client(transport=_transport(raw))
    llm = ChatOpenAI(model="o3-mini", api_key="sk-test-key", max_retries=0, http_client=client)

    session = _stored_session(llm, "openai-usage")

    expected = [extract_usage(r, provider_id="openai", api_flavor="chat").usage for r in raw]
    _assert_tokens(session, expected)
    assert (session.cache_read_tokens, session.reasoning_tokens) == (1024 + 1792, 512 + 128)
    _assert_cost(session, expected, model, "openai")


# --- Mistral: ChatMistralAI over a mock transport ----------------------------------------------


def test_mistral_cached_tokens_dropped_from_usage_metadata_are_read_from_the_raw_usage() -> None:
    from langchain_mistralai import ChatMistralAI

    model = "mistral-small-latest"

    def completion(prompt: int, cached: int, completion: int) -> dict[str, Any]:
        return {
            "id": "cmpl-1",
            "object": "chat.completion",
            "created": 1733000000,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sure."}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        }

    raw = [completion(900, 0, 40), completion(1400, 896, 25)]
    client = httpx.Client(base_url="https://api.mistral.ai/v1", transport=_transport(raw))
    llm = ChatMistralAI(model=model, api_key="test-key", client=client, max_retries=0)

    session = _stored_session(llm, "mistral-usage")

    expected = [extract_usage(r, provider_id="mistral").usage for r in raw]
    _assert_tokens(session, expected)
    assert session.cache_read_tokens == 896
    _assert_cost(session, expected, model, "mistral")


# --- Ollama: ChatOllama over the real ollama client --------------------------------------------


def test_ollama_counts_tokens_and_has_no_made_up_cost() -> None:
    from langchain_ollama import ChatOllama

    def chat(prompt: int, completion: int) -> list[dict[str, Any]]:
        base = {"model": "llama3.2", "created_at": "2026-12-04T06:00:00Z"}
        return [
            {**base, "message": {"role": "assistant", "content": "Hello."}, "done": False},
            {
                **base,
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "total_duration": 1000,
                "prompt_eval_count": prompt,
                "eval_count": completion,
            },
        ]

    llm = ChatOllama(model="llama3.2", client_kwargs={"transport": _transport([chat(26, 9), chat(44, 12)])})

    session = _stored_session(llm, "ollama-usage")

    assert (session.input_tokens, session.output_tokens) == (26 + 44, 9 + 12)
    assert session.cost_usd is None  # genai-prices has no price for a local model: no cost, never 0


# --- Google GenAI and Vertex AI: the AIMessage their conversion builds ---------------------------


def _gemini_response(prompt: int, cached: int, candidates: int, thoughts: int, tool_prompt: int = 0) -> dict[str, Any]:
    """A generateContent response (REST JSON) with its ``usageMetadata``."""
    usage = {
        "promptTokenCount": prompt,
        "cachedContentTokenCount": cached,
        "candidatesTokenCount": candidates,
        "thoughtsTokenCount": thoughts,
        "totalTokenCount": prompt + tool_prompt + candidates + thoughts,
    }
    if tool_prompt:
        usage["toolUsePromptTokenCount"] = tool_prompt
    return {"modelVersion": "gemini-2.5-flash", "usageMetadata": usage}


def _gemini_message(raw: dict[str, Any], provider: str) -> AIMessage:
    """The ``AIMessage`` the Google integrations build from a response's usage.

    ``google_genai``: as ``langchain_google_genai.chat_models._response_to_result`` builds it
    (langchain-google-genai 4.4): input is ``prompt_token_count + tool_use_prompt_token_count`` (cached
    included), output is ``candidates_token_count + thoughts_token_count``, reasoning is the thoughts.

    ``google_vertexai``: as ``langchain_google_vertexai.chat_models._get_usage_metadata_gemini`` builds it
    (3.2): input is ``prompt_token_count`` and output ``candidates_token_count`` alone; the thinking tokens
    are only in ``output_token_details.reasoning`` and in ``total_tokens``.
    """
    u = raw["usageMetadata"]
    thoughts = u.get("thoughtsTokenCount", 0)
    genai = provider == "google_genai"
    usage: dict[str, Any] = {
        "input_tokens": u["promptTokenCount"] + (u.get("toolUsePromptTokenCount", 0) if genai else 0),
        "output_tokens": u["candidatesTokenCount"] + (thoughts if genai else 0),
        "total_tokens": u["totalTokenCount"],
        "input_token_details": {"cache_read": u.get("cachedContentTokenCount", 0)},
    }
    if thoughts > 0:
        usage["output_token_details"] = {"reasoning": thoughts}
    return AIMessage(
        "Here is your order status.",
        usage_metadata=usage,  # type: ignore[arg-type]
        response_metadata={"model_provider": provider, "model_name": raw["modelVersion"]},
    )


@pytest.mark.parametrize(
    ("provider", "tool_prompt"),
    [
        ("google_genai", 64),
        # langchain-google-vertexai leaves toolUsePromptTokenCount out of usage_metadata (a known gap,
        # in the README's table): those tokens cannot be counted from what it reports.
        ("google_vertexai", 0),
    ],
    ids=["google-genai", "vertex-ai"],
)
def test_google_gemini_thinking_and_cached_tokens(provider: str, tool_prompt: int) -> None:
    raw = [_gemini_response(1200, 0, 180, 420, tool_prompt=tool_prompt), _gemini_response(1500, 1024, 90, 0)]
    llm = ScriptedChatModel(
        script=[_gemini_message(r, provider) for r in raw], model_name="gemini-2.5-flash", provider=provider
    )

    session = _stored_session(llm, f"{provider}-usage")

    expected = [extract_usage(r, provider_id="google").usage for r in raw]
    _assert_tokens(session, expected)
    assert session.output_tokens == 180 + 420 + 90  # thinking is output, on Vertex too
    _assert_cost(session, expected, "gemini-2.5-flash", "google")


# --- Bedrock: the AIMessage ChatBedrockConverse / ChatBedrock build -----------------------------

BEDROCK_CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def _converse_message(raw: dict[str, Any]) -> AIMessage:
    """As ``langchain_aws.chat_models.bedrock_converse._extract_usage_metadata`` builds it (langchain-aws 1.9).

    Input adds ``cacheReadInputTokens`` and ``cacheWriteInputTokens`` to ``inputTokens``; a ``cacheDetails``
    TTL breakdown goes to ``ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens`` and zeroes
    ``cache_creation``.
    """
    u = raw["usage"]
    read, write = u.get("cacheReadInputTokens", 0), u.get("cacheWriteInputTokens", 0)
    input_tokens = u["inputTokens"] + read + write
    details: dict[str, Any] = {"cache_read": read, "cache_creation": write}
    ttl = {t: sum(d["inputTokens"] for d in u.get("cacheDetails", []) if d["ttl"] == t) for t in ("5m", "1h")}
    if ttl["5m"]:
        details["ephemeral_5m_input_tokens"] = ttl["5m"]
    if ttl["1h"]:
        details["ephemeral_1h_input_tokens"] = ttl["1h"]
    if ttl["5m"] + ttl["1h"]:
        details["cache_creation"] = 0
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": u["outputTokens"],
        "input_token_details": details,
        "total_tokens": u.get("totalTokens", input_tokens + u["outputTokens"]),
    }
    return AIMessage(
        "Your order ships today.",
        usage_metadata=usage,  # type: ignore[arg-type]
        response_metadata={
            "stopReason": "end_turn",
            "model_provider": "bedrock_converse",
            "model_name": BEDROCK_CLAUDE,
        },
    )


def test_bedrock_converse_cache_reads_and_ttl_writes() -> None:
    def converse(fresh: int, read: int, write: int, out: int, details: list[dict[str, Any]]) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "inputTokens": fresh,
            "outputTokens": out,
            "totalTokens": fresh + read + write + out,
            "cacheReadInputTokens": read,
            "cacheWriteInputTokens": write,
        }
        if details:
            usage["cacheDetails"] = details
        return {"usage": usage, "stopReason": "end_turn"}

    raw = [
        converse(40, 0, 1500, 120, [{"ttl": "5m", "inputTokens": 1500}]),
        converse(55, 1500, 0, 80, []),
    ]
    llm = ScriptedChatModel(
        script=[_converse_message(r) for r in raw], model_name=BEDROCK_CLAUDE, provider="amazon_bedrock"
    )

    session = _stored_session(llm, "bedrock-converse-usage")

    expected = [extract_usage(r, provider_id="aws").usage for r in raw]
    _assert_tokens(session, expected)
    assert (session.cache_read_tokens, session.cache_write_tokens) == (1500, 1500)
    _assert_cost(session, expected, BEDROCK_CLAUDE, "aws")


def _invoke_model_message(body: dict[str, Any]) -> AIMessage:
    """As ``langchain_aws.chat_models.bedrock.ChatBedrock._generate`` builds it (langchain-aws 1.9).

    ``LLMInputOutputAdapter.prepare_output`` reads the ``x-amzn-bedrock-*-token-count`` headers, which
    carry the Anthropic body's counts; input adds the cache reads and writes to the input count.
    """
    u = body["usage"]
    read, write = u.get("cache_read_input_tokens", 0), u.get("cache_creation_input_tokens", 0)
    input_tokens = u["input_tokens"] + read + write
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": u["output_tokens"],
        "input_token_details": {"cache_read": read, "cache_creation": write},
        "total_tokens": input_tokens + u["output_tokens"],
    }
    return AIMessage(
        "Your order ships today.",
        usage_metadata=usage,  # type: ignore[arg-type]
        response_metadata={"model_provider": "bedrock", "model_name": BEDROCK_CLAUDE},
    )


def test_bedrock_invoke_model_anthropic_body() -> None:
    raw = [
        _anthropic_message(
            BEDROCK_CLAUDE, {"input_tokens": 30, "cache_creation_input_tokens": 2000, "output_tokens": 64}
        ),
        _anthropic_message(BEDROCK_CLAUDE, {"input_tokens": 25, "cache_read_input_tokens": 2000, "output_tokens": 48}),
    ]
    llm = ScriptedChatModel(
        script=[_invoke_model_message(r) for r in raw], model_name=BEDROCK_CLAUDE, provider="amazon_bedrock"
    )

    session = _stored_session(llm, "bedrock-invoke-usage")

    expected = [extract_usage(r, provider_id="aws", api_flavor="anthropic").usage for r in raw]
    _assert_tokens(session, expected)
    _assert_cost(session, expected, BEDROCK_CLAUDE, "aws")
