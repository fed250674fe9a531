"""Session scopes, id validation, the framework-id resolver and one session per trace."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import threadline
from tests.kit import yielded_then_returned
from threadline import semconv as sc
from threadline import sessions
from threadline.integration import current_emitter
from threadline.records import ModelCall, Run, SpanKind
from threadline.testing import CapturedSpans, capture


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "_warned_ids", set())


def _span(name: str = "work", **record: Any) -> None:
    emitter = current_emitter()
    emitter.end(emitter.start(Run(name=name, **record)))


def _session_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "threadline" and "is not printable ASCII" in r.getMessage()]


# --- scopes -------------------------------------------------------------------------


def test_context_manager_sets_and_restores_current_session(spans: CapturedSpans) -> None:
    assert threadline.current_session() is None
    with threadline.session("chat-1", user_id="user-1", tags=["support", "beta"], metadata={"plan": "pro", "n": 3}):
        info = threadline.current_session()
        assert info is not None and info.session_id == "chat-1" and info.user_id == "user-1"
        _span()
    assert threadline.current_session() is None
    attrs = spans.one("work").attributes
    assert attrs[sc.SESSION_ID] == "chat-1"
    assert attrs[sc.GEN_AI_CONVERSATION_ID] == "chat-1"
    assert attrs[sc.USER_ID] == "user-1"
    assert list(attrs[sc.TAGS]) == ["support", "beta"]
    assert attrs[sc.METADATA_PREFIX + "plan"] == "pro"
    assert attrs[sc.METADATA_PREFIX + "n"] == 3
    assert attrs[sc.SESSION_SOURCE] == "explicit"
    assert sc.SESSION_ID_ORIGINAL not in attrs


def test_outside_a_scope_spans_have_no_session(spans: CapturedSpans) -> None:
    _span()
    assert sc.SESSION_ID not in spans.one("work").attributes


def test_nesting_innermost_wins(spans: CapturedSpans) -> None:
    with threadline.session("outer", user_id="u-outer"):
        _span("a")
        with threadline.session("inner"):
            assert threadline.current_session().session_id == "inner"
            _span("b")
        assert threadline.current_session().session_id == "outer"
        _span("c")
    assert spans.one("a").attributes[sc.SESSION_ID] == "outer"
    assert spans.one("b").attributes[sc.SESSION_ID] == "inner"
    assert sc.USER_ID not in spans.one("b").attributes  # the inner scope replaces, it does not merge
    assert spans.one("c").attributes[sc.SESSION_ID] == "outer"


def test_scope_restores_on_exception() -> None:
    with pytest.raises(KeyError):
        with threadline.session("chat-err"):
            raise KeyError("x")
    assert threadline.current_session() is None


def test_the_same_scope_object_reenters() -> None:
    scope = threadline.session("chat-r")
    with scope:
        with scope:
            assert threadline.current_session().session_id == "chat-r"
        assert threadline.current_session().session_id == "chat-r"
    assert threadline.current_session() is None


async def test_async_with_and_tasks_do_not_leak() -> None:
    async with threadline.session("chat-async"):
        assert threadline.current_session().session_id == "chat-async"
    assert threadline.current_session() is None

    @threadline.session("task-a")
    async def a() -> str:
        await asyncio.sleep(0)
        return threadline.current_session().session_id

    @threadline.session("task-b")
    async def b() -> str:
        await asyncio.sleep(0)
        return threadline.current_session().session_id

    assert await asyncio.gather(a(), b()) == ["task-a", "task-b"]
    assert threadline.current_session() is None


def test_decorator_on_a_sync_function(spans: CapturedSpans) -> None:
    @threadline.session("chat-deco", user_id="u-9")
    def handle(x: int) -> int:
        _span("inside")
        return x * 2

    assert handle.__name__ == "handle"
    assert handle(21) == 42
    assert threadline.current_session() is None
    assert spans.one("inside").attributes[sc.SESSION_ID] == "chat-deco"


def test_decorator_on_a_generator_scopes_each_step_only() -> None:
    @threadline.session("chat-gen")
    def gen() -> Iterator[str | None]:
        for _ in range(2):
            info = threadline.current_session()
            yield info.session_id if info else None
        return None

    seen = []
    for item in gen():
        seen.append(item)
        assert threadline.current_session() is None  # the consumer is outside the scope
    assert seen == ["chat-gen", "chat-gen"]


def test_decorator_keeps_a_generator_return_value() -> None:
    @threadline.session("chat-gen")
    def gen() -> Iterator[int]:
        yield 1
        return 7

    assert yielded_then_returned(gen()) == [1, 7]


async def test_decorator_on_an_async_generator() -> None:
    @threadline.session("chat-agen")
    async def agen() -> Any:
        for _ in range(2):
            await asyncio.sleep(0)
            yield threadline.current_session().session_id

    seen = []
    async for item in agen():
        seen.append(item)
        assert threadline.current_session() is None
    assert seen == ["chat-agen", "chat-agen"]


def test_user_spans_inside_a_scope_are_stamped(spans: CapturedSpans) -> None:
    tracer = spans.provider.get_tracer("my-app")
    with threadline.session("chat-own", user_id="u-1"):
        with tracer.start_as_current_span("my span"):
            pass
    attrs = spans.one("my span").attributes
    assert attrs[sc.SESSION_ID] == "chat-own" and attrs[sc.USER_ID] == "u-1"


# --- id validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["chat-1", "a b c", "x" * 199, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "4f1c6c7e-0a7e-4f5e-9c1b-0d3c2f1e5a6b"],
)
def test_printable_ascii_under_200_passes_unchanged(
    raw: str, spans: CapturedSpans, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="threadline"):
        with threadline.session(raw):
            _span()
    attrs = spans.one("work").attributes
    assert attrs[sc.SESSION_ID] == raw
    assert sc.SESSION_ID_ORIGINAL not in attrs
    assert _session_warnings(caplog) == []


def test_ints_and_uuids_are_their_text() -> None:
    u = uuid.UUID("4f1c6c7e-0a7e-4f5e-9c1b-0d3c2f1e5a6b")
    assert sessions.validate_id(42) == ("42", None)
    assert sessions.validate_id(u) == (str(u), None)


@pytest.mark.parametrize(
    ("raw", "original"),
    [
        ("café-42", "café-42"),
        ("会话-1", "会话-1"),
        ("line\nbreak", "line\nbreak"),
        ("tab\there", "tab\there"),
        ("nul\x00", "nul\x00"),
        ("x" * 200, "x" * 200),
        ("y" * 5000, "y" * 1000),
        ({"chat": 1}, "{'chat': 1}"),
        (("a", "b"), "('a', 'b')"),
        (b"bytes-id", "b'bytes-id'"),
        (1.5, "1.5"),
    ],
    ids=["accent", "cjk", "newline", "tab", "nul", "200-chars", "5000-chars", "dict", "tuple", "bytes", "float"],
)
def test_other_ids_get_a_stable_short_form_one_warning_and_keep_the_original(
    raw: Any, original: str, spans: CapturedSpans, caplog: pytest.LogCaptureFixture
) -> None:
    text = raw if isinstance(raw, str) else repr(raw)
    expected = "h-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    with caplog.at_level(logging.WARNING, logger="threadline"):
        for _ in range(3):
            with threadline.session(raw):
                _span()
    assert len(_session_warnings(caplog)) == 1
    assert expected in _session_warnings(caplog)[0].getMessage()
    found = spans.by_name("work")
    assert len(found) == 3
    for span in found:
        assert span.attributes[sc.SESSION_ID] == expected
        assert span.attributes[sc.GEN_AI_CONVERSATION_ID] == expected
        assert span.attributes[sc.SESSION_ID_ORIGINAL] == original
    assert len(expected) < 200 and expected.isascii() and expected.isprintable()


def test_bad_user_ids_are_shortened_too(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="threadline"):
        with threadline.session("chat-1", user_id="jürgen") as info:
            assert info.user_id is not None and info.user_id.startswith("h-")
    assert any("user id" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_an_empty_session_id_is_a_clear_error(raw: Any) -> None:
    with pytest.raises(ValueError, match="non-empty session id"):
        threadline.session(raw)


# --- mapper and framework ids ------------------------------------------------------------


def test_session_id_from_maps_explicit_and_framework_ids() -> None:
    with capture(integrations=[], session_id_from=lambda raw: f"tenant-a:{raw}") as spans:
        with threadline.session("chat-1"):
            _span("explicit")
        _span("framework", session_hints={"thread_id": "t-9"})
    assert spans.one("explicit").attributes[sc.SESSION_ID] == "tenant-a:chat-1"
    assert spans.one("framework").attributes[sc.SESSION_ID] == "tenant-a:t-9"
    assert spans.one("framework").attributes[sc.SESSION_SOURCE] == "thread_id"


def test_a_mapper_that_raises_falls_back_to_the_raw_id(caplog: pytest.LogCaptureFixture) -> None:
    def bad(raw: str) -> str:
        raise RuntimeError("nope")

    with capture(integrations=[], session_id_from=bad) as spans:
        with caplog.at_level(logging.WARNING, logger="threadline"):
            with threadline.session("chat-1"):
                _span("explicit")
            _span("framework", session_hints={"thread_id": "t-9"})
    assert spans.one("explicit").attributes[sc.SESSION_ID] == "chat-1"
    assert spans.one("framework").attributes[sc.SESSION_ID] == "t-9"
    assert "session_id_from raised" in caplog.text


def test_framework_hints_follow_the_default_key_order(spans: CapturedSpans) -> None:
    _span("all", session_hints={"conversation_id": "c-1", "thread_id": "t-1", "session_id": "s-1"})
    _span("two", session_hints={"conversation_id": "c-1", "thread_id": "t-1"})
    _span("empty-first", session_hints={"session_id": "", "conversation_id": "c-1"})
    _span("user", session_hints={"thread_id": "t-1", "user_id": "u-3"})
    assert spans.one("all").attributes[sc.SESSION_ID] == "s-1"
    assert spans.one("all").attributes[sc.SESSION_SOURCE] == "session_id"
    assert spans.one("two").attributes[sc.SESSION_ID] == "t-1"
    assert spans.one("empty-first").attributes[sc.SESSION_ID] == "c-1"
    assert spans.one("user").attributes[sc.USER_ID] == "u-3"


def test_the_key_order_is_configurable() -> None:
    with capture(integrations=[], session_keys=["conversation_id", "thread_id"]) as spans:
        _span("all", session_hints={"conversation_id": "c-1", "thread_id": "t-1", "session_id": "s-1"})
        _span("session-only", session_hints={"session_id": "s-1"})
    assert spans.one("all").attributes[sc.SESSION_ID] == "c-1"
    assert sc.SESSION_ID not in spans.one("session-only").attributes


def test_an_explicit_scope_beats_framework_ids(spans: CapturedSpans) -> None:
    with threadline.session("explicit-1"):
        _span(session_hints={"thread_id": "t-1", "session_id": "s-1"})
    assert spans.one("work").attributes[sc.SESSION_ID] == "explicit-1"
    assert spans.one("work").attributes[sc.SESSION_SOURCE] == "explicit"


def test_framework_ids_are_validated(spans: CapturedSpans, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="threadline"):
        _span(session_hints={"thread_id": "fil-ü"})
    attrs = spans.one("work").attributes
    assert attrs[sc.SESSION_ID].startswith("h-")
    assert attrs[sc.SESSION_ID_ORIGINAL] == "fil-ü"
    assert len(_session_warnings(caplog)) == 1


# --- one session per trace ------------------------------------------------------------------


def test_children_inherit_the_root_session_and_never_switch(spans: CapturedSpans) -> None:
    emitter = current_emitter()
    root = emitter.start(Run(name="graph", run_kind=SpanKind.GRAPH, session_hints={"thread_id": "t-root"}))
    child = emitter.start(Run(name="node", run_kind=SpanKind.NODE, session_hints={"thread_id": "t-other"}), parent=root)
    with threadline.session("explicit-late"):
        grandchild = emitter.start(ModelCall(name="chat", request_model="m"), parent=child)
    for handle in (grandchild, child, root):
        emitter.end(handle)
    ids = {s.name: s.attributes.get(sc.SESSION_ID) for s in spans.finished()}
    assert ids == {"graph": "t-root", "node": "t-root", "chat m": "t-root"}


def test_late_binding_stamps_the_root_when_a_child_finds_the_session(spans: CapturedSpans) -> None:
    emitter = current_emitter()
    root = emitter.start(Run(name="handle-turn", run_kind=SpanKind.OBSERVE))
    chain = emitter.start(Run(name="chain", session_hints={"session_id": "s-late", "user_id": "u-late"}), parent=root)
    model = emitter.start(ModelCall(name="chat", request_model="m", session_hints={"thread_id": "t-x"}), parent=chain)
    for handle in (model, chain, root):
        emitter.end(handle)
    assert len(spans.traces()) == 1
    for span in spans.finished():
        assert span.attributes[sc.SESSION_ID] == "s-late", span.name
        assert span.attributes[sc.USER_ID] == "u-late", span.name
        assert span.attributes[sc.SESSION_SOURCE] == "session_id"


def test_separate_traces_get_separate_sessions(spans: CapturedSpans) -> None:
    _span("one", session_hints={"thread_id": "t-1"})
    _span("two", session_hints={"thread_id": "t-2"})
    _span("three")
    assert len(spans.traces()) == 3
    assert spans.one("one").attributes[sc.SESSION_ID] == "t-1"
    assert spans.one("two").attributes[sc.SESSION_ID] == "t-2"
    assert sc.SESSION_ID not in spans.one("three").attributes
