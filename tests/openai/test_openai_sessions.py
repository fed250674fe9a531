"""Sessions and users: explicit scope, conversation, previous_response_id chain, thread URL, metadata."""

from __future__ import annotations

import warnings

import pytest
from oa_kit import MODEL, attrs

import threadline
from threadline import semconv as sc

CONV = "conv_6863e0a1b2c48190a1b2c3d4e5f6a7b80c1d2e3f4a5b6c7d"
R1 = "resp_6863e1a0c1d28190a1b2c3d4e5f6a7b80c1d2e3f4a5b6c7d"
R2 = "resp_6863e1b4d2e38191b2c3d4e5f6a7b8c90c1d2e3f4a5b6c7d"
R3 = "resp_6863e1c8e3f48192c3d4e5f6a7b8c9d00c1d2e3f4a5b6c7d"


def session_of(span) -> tuple:
    a = attrs(span)
    return a.get(sc.SESSION_ID), a.get(sc.SESSION_SOURCE), a.get(sc.SESSION_ORIGIN)


@pytest.mark.parametrize("shape", ["id", "object"])
async def test_conversation_is_the_session(cassette, spans, client, shape):
    conversation = CONV if shape == "id" else {"id": CONV}
    client.responses.create(model=MODEL, conversation=conversation, input="My order #123 has not arrived.")
    client.responses.create(model=MODEL, conversation=conversation, input="It was shipped last Monday.")
    first, second = spans.finished()
    assert first.context.trace_id != second.context.trace_id
    for span in (first, second):
        assert session_of(span) == (CONV, "conversation_id", "openai.conversation")
        assert attrs(span)[sc.GEN_AI_CONVERSATION_ID] == CONV


async def test_conversation_create_joins_the_session(cassette, spans, client):
    conversation = client.conversations.create(metadata={"topic": "orders"})
    assert conversation.id == CONV
    client.responses.create(model=MODEL, conversation=conversation.id, input="My order #123 has not arrived.")
    created, turn = spans.finished()
    assert created.name == "openai POST /conversations"
    assert attrs(created)[sc.SPAN_KIND] == "request"
    assert session_of(created) == (CONV, "conversation_id", "openai.conversation")
    assert session_of(turn) == (CONV, "conversation_id", "openai.conversation")


async def test_previous_response_id_chain_is_one_session(cassette, spans, client):
    first = client.responses.create(model=MODEL, input="Hi, I need help with my order.")
    second = client.responses.create(model=MODEL, previous_response_id=first.id, input="It is order #123.")
    third = client.responses.create(model=MODEL, previous_response_id=second.id, input="Thanks!")
    assert [first.id, second.id, third.id] == [R1, R2, R3]
    s1, s2, s3 = spans.finished()
    assert len({s.context.trace_id for s in (s1, s2, s3)}) == 3
    assert session_of(s1) == (R1, "conversation_id", "openai.response_id")
    assert session_of(s2) == (R1, "conversation_id", "openai.previous_response_id")
    assert session_of(s3) == (R1, "conversation_id", "openai.previous_response_id")


async def test_chain_from_an_unknown_response(cassette, spans, client):
    """A chain started before this process (not in the map) is the session of the response it names."""
    client.responses.create(model=MODEL, previous_response_id=R2, input="Thanks!")
    assert session_of(spans.one(f"chat {MODEL}")) == (R2, "conversation_id", "openai.previous_response_id")


async def test_chain_sessions_can_be_turned_off(cassette, monkeypatch, client):
    from threadline.testing import capture

    monkeypatch.setenv("THREADLINE_OPENAI_CHAIN_SESSIONS", "0")
    with capture(integrations=["openai"]) as spans:
        first = client.responses.create(model=MODEL, input="Hi, I need help with my order.")
        client.responses.create(model=MODEL, previous_response_id=first.id, input="It is order #123.")
    s1, s2 = spans.finished()
    assert sc.SESSION_ID not in attrs(s1)
    assert session_of(s2) == (R1, "conversation_id", "openai.previous_response_id")


async def test_store_false_starts_no_session(cassette, spans, client):
    client.responses.create(model=MODEL, input="Classify: 'great product'", store=False)
    assert sc.SESSION_ID not in attrs(spans.one(f"chat {MODEL}"))


async def test_metadata_keys(cassette, spans, client):
    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hi"}],
        store=True,
        metadata={"session_id": "chat-42", "user_id": "user-7"},
    )
    span = spans.one(f"chat {MODEL}")
    assert session_of(span) == ("chat-42", "session_id", "openai.metadata")
    assert attrs(span)[sc.USER_ID] == "user-7"


async def test_conversation_beats_metadata(cassette, spans, client):
    client.responses.create(model=MODEL, conversation=CONV, input="Hello again.", metadata={"session_id": "chat-42"})
    assert session_of(spans.one(f"chat {MODEL}")) == (CONV, "conversation_id", "openai.conversation")


async def test_explicit_session_wins(cassette, spans, client):
    with threadline.session("support-case-9", user_id="user-1"):
        client.responses.create(model=MODEL, conversation=CONV, input="Hello again.", user="someone-else")
    span = spans.one(f"chat {MODEL}")
    assert session_of(span) == ("support-case-9", "explicit", None)
    assert attrs(span)[sc.USER_ID] == "user-1"


async def test_user_from_request_fields(cassette, spans, client):
    # store=False: no session at all, yet the user is on the span.
    client.responses.create(model=MODEL, input="Classify: 'great product'", store=False, safety_identifier="sid-4f2a9c")
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], user="legacy-user-3")
    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hi"}],
        user="legacy-user-3",
        store=True,
        metadata={"user_id": "user-7"},
    )
    responses_span, legacy, with_metadata = spans.finished()
    assert attrs(responses_span)[sc.USER_ID] == "sid-4f2a9c"
    assert sc.SESSION_ID not in attrs(responses_span)
    assert attrs(legacy)[sc.USER_ID] == "legacy-user-3"
    assert attrs(with_metadata)[sc.USER_ID] == "user-7"


async def test_assistants_thread_from_url(cassette, spans, client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        page = client.beta.threads.messages.list("thread_Xk4mP9qR2sT7vW1yZ3bN5cD8")
    assert page.data[0].content[0].text.value == "Where is my order?"
    span = spans.one("openai GET /threads/{id}/messages")
    a = attrs(span)
    assert a[sc.SPAN_KIND] == "request"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert session_of(span) == ("thread_Xk4mP9qR2sT7vW1yZ3bN5cD8", "thread_id", "openai.thread")
