"""Chat engines with memory across turns (one session), and streamed chat."""

from __future__ import annotations

import gc

import pytest
from li_kit import OPENAI_MODEL, ProviderDownError, ScriptedLLM, openai_cost
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.instrumentation.dispatcher import instrument_tags
from llama_index.core.memory import ChatMemoryBuffer, Memory

from tests.kit import attrs as _attrs
from threadline import semconv as sc

MODEL_SPAN = f"chat {OPENAI_MODEL}"


def _engine(llm: ScriptedLLM, memory=None) -> SimpleChatEngine:
    return SimpleChatEngine.from_defaults(llm=llm, memory=memory)


def test_turns_of_one_memory_are_one_session(spans):
    engine = _engine(ScriptedLLM(), ChatMemoryBuffer.from_defaults(chat_store_key="chat-42"))
    for question in ("hi", "how are you?", "bye"):
        assert str(engine.chat(question)) == "The answer is 42."

    traces = spans.traces()
    assert len(traces) == 3
    for members in traces.values():
        assert [s.name for s in members if s.parent is None] == ["SimpleChatEngine.chat"]
        for span in members:
            assert _attrs(span)[sc.SESSION_ID] == "chat-42", span.name
            assert _attrs(span)[sc.SESSION_SOURCE] == "session_id"
    # the third turn's model call saw the whole conversation (memory works as usual)
    last = sorted(spans.by_name(MODEL_SPAN), key=lambda s: s.start_time)[-1]
    assert "how are you?" in _attrs(last)[sc.GEN_AI_INPUT_MESSAGES]
    total = sum(_attrs(s).get(sc.GEN_AI_USAGE_COST, 0.0) for s in spans.finished())
    assert total == pytest.approx(3 * openai_cost(120, 30), abs=1e-12)


def test_default_memory_key_is_no_session(spans):
    engine = _engine(ScriptedLLM())  # ChatMemoryBuffer with the default "chat_history" key
    engine.chat("hi")
    engine.chat("again")
    assert len(spans.traces()) == 2
    assert all(sc.SESSION_ID not in _attrs(s) for s in spans.finished())


def test_memory_session_id_given_by_the_user(spans):
    engine = _engine(ScriptedLLM(), Memory.from_defaults(session_id="user-7-thread"))
    engine.chat("hi")
    engine.chat("again")
    assert {_attrs(s)[sc.SESSION_ID] for s in spans.finished()} == {"user-7-thread"}


def test_generated_memory_session_id_is_no_session(spans):
    _engine(ScriptedLLM(), Memory.from_defaults()).chat("hi")
    assert all(sc.SESSION_ID not in _attrs(s) for s in spans.finished())


def test_instrument_tags_win_over_memory(spans):
    engine = _engine(ScriptedLLM(), ChatMemoryBuffer.from_defaults(chat_store_key="memory-key"))
    with instrument_tags({"thread_id": "thread-1", "user_id": "u-9"}):
        engine.chat("hi")
    root = spans.one("SimpleChatEngine.chat")
    assert _attrs(root)[sc.SESSION_ID] == "thread-1"
    assert _attrs(root)[sc.SESSION_SOURCE] == "thread_id"
    assert _attrs(root)[sc.USER_ID] == "u-9"


def test_context_chat_engine_retrieves_and_answers_in_one_trace(spans, embed_model):
    index = VectorStoreIndex.from_documents([Document(text="The sky is blue.")], embed_model=embed_model)
    spans.clear()
    engine = index.as_chat_engine(
        chat_mode="context", llm=ScriptedLLM(), memory=ChatMemoryBuffer.from_defaults(chat_store_key="ctx-1")
    )
    engine.chat("what colour is the sky?")
    engine.chat("are you sure?")
    assert len(spans.traces()) == 2
    for members in spans.traces().values():
        names = {s.name for s in members}
        assert {"ContextChatEngine.chat", "VectorIndexRetriever.retrieve", MODEL_SPAN} <= names
        assert {_attrs(s)[sc.SESSION_ID] for s in members} == {"ctx-1"}


def test_streaming_chat_engine(spans):
    engine = _engine(ScriptedLLM(completion_tokens=7), ChatMemoryBuffer.from_defaults(chat_store_key="stream-1"))
    response = engine.stream_chat("tell me")
    text = "".join(response.response_gen)
    assert text == "The answer is 42."

    chat = spans.one("SimpleChatEngine.stream_chat")
    model = spans.one(MODEL_SPAN)
    assert model.parent.span_id == chat.context.span_id
    assert model.context.trace_id == chat.context.trace_id
    # the chat turn lasts until the stream has been written to memory
    assert chat.end_time >= model.end_time
    assert _attrs(chat)[sc.OI_OUTPUT_VALUE] == "The answer is 42."
    m = _attrs(model)
    assert m[sc.GEN_AI_REQUEST_STREAM] is True
    assert m[sc.END_REASON] == "completed"
    assert m[sc.TIME_TO_FIRST_TOKEN] >= 0
    assert m[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert m[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert m[sc.GEN_AI_USAGE_COST] == pytest.approx(openai_cost(120, 7), abs=1e-12)
    assert '"The answer is 42."' in m[sc.OI_OUTPUT_VALUE]
    assert {_attrs(s)[sc.SESSION_ID] for s in spans.finished()} == {"stream-1"}


async def test_async_streaming_chat_engine(spans):
    engine = _engine(ScriptedLLM(), ChatMemoryBuffer.from_defaults(chat_store_key="astream-1"))
    response = await engine.astream_chat("tell me")
    text = "".join([t async for t in response.async_response_gen()])
    assert text == "The answer is 42."
    chat = spans.one("SimpleChatEngine.astream_chat")
    model = spans.one(MODEL_SPAN)
    assert model.parent.span_id == chat.context.span_id
    assert _attrs(model)[sc.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert _attrs(model)[sc.TIME_TO_FIRST_TOKEN] >= 0
    assert _attrs(chat)[sc.OUTCOME] == "ok"
    assert {_attrs(s)[sc.SESSION_ID] for s in spans.finished()} == {"astream-1"}


def test_llm_stream_ends_with_its_last_chunk_not_when_returned(spans):
    llm = ScriptedLLM()
    stream = llm.stream_chat([ChatMessage(role="user", content="hi")])
    assert spans.finished() == []  # returned, not consumed: still open
    chunks = list(stream)
    assert chunks[-1].message.content == "The answer is 42."
    model = spans.one(MODEL_SPAN)
    assert _attrs(model)[sc.GEN_AI_USAGE_TOTAL_TOKENS] == 150
    assert _attrs(model)[sc.OUTCOME] == "ok"


def test_stream_closed_early_is_cancelled(spans):
    stream = ScriptedLLM().stream_chat([ChatMessage(role="user", content="hi")])
    next(stream)
    stream.close()
    model = spans.one(MODEL_SPAN)
    assert _attrs(model)[sc.OUTCOME] == "cancelled"
    assert _attrs(model)[sc.END_REASON] == "closed_early"
    assert model.status.status_code.name == "UNSET"


def test_abandoned_stream_ends_when_collected(spans):
    stream = ScriptedLLM().stream_chat([ChatMessage(role="user", content="hi")])
    del stream
    gc.collect()
    model = spans.one(MODEL_SPAN)
    assert _attrs(model)[sc.OUTCOME] == "cancelled"
    assert _attrs(model)[sc.END_REASON] == "garbage_collected"


def test_stream_error_mid_way(spans):
    stream = ScriptedLLM(fail_mid_stream=True).stream_chat([ChatMessage(role="user", content="hi")])
    with pytest.raises(ProviderDownError):
        list(stream)
    model = spans.one(MODEL_SPAN)
    assert _attrs(model)[sc.OUTCOME] == "error"
    assert _attrs(model)[sc.ERROR_TYPE] == "ProviderDownError"
    assert _attrs(model)[sc.END_REASON] == "error"
    assert model.status.status_code.name == "ERROR"


async def test_async_stream_error_mid_way(spans):
    stream = await ScriptedLLM(fail_mid_stream=True).astream_chat([ChatMessage(role="user", content="hi")])
    with pytest.raises(ProviderDownError):
        async for _ in stream:
            pass
    assert _attrs(spans.one(MODEL_SPAN))[sc.OUTCOME] == "error"
