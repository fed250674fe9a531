"""``@threadline.observe`` on sync, async and generator functions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import threadline
from threadline import semconv as sc
from threadline.records import SpanKind
from threadline.testing import CapturedSpans


class BoomError(Exception):
    pass


def test_sync_function(spans: CapturedSpans) -> None:
    result = object()

    @threadline.observe()
    def handle_turn(message: str, *, user: str) -> object:
        return result

    assert handle_turn.__name__ == "handle_turn"
    assert handle_turn("hi", user="u-1") is result
    span = spans.one("test_sync_function.<locals>.handle_turn")
    assert span.attributes[sc.SPAN_KIND] == SpanKind.OBSERVE.value
    assert span.attributes[sc.OI_INPUT_VALUE] == '{"args": ["hi"], "kwargs": {"user": "u-1"}}'
    assert span.attributes[sc.OI_OUTPUT_VALUE].startswith('"<object object at')
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_OK
    assert span.status.status_code is StatusCode.UNSET


def test_name_kind_and_capture_args(spans: CapturedSpans) -> None:
    @threadline.observe("plan", kind="agent", capture_args=False)
    def plan(secret: str) -> None:
        return None

    plan("password")
    span = spans.one("plan")
    assert span.attributes[sc.SPAN_KIND] == "agent"
    assert span.attributes[sc.GEN_AI_AGENT_NAME] == "plan"
    assert sc.OI_INPUT_VALUE not in span.attributes and sc.OI_OUTPUT_VALUE not in span.attributes


def test_nested_observes_form_a_tree_in_a_session(spans: CapturedSpans) -> None:
    @threadline.observe("inner")
    def inner() -> int:
        return 1

    @threadline.observe("outer")
    def outer() -> int:
        return inner() + inner()

    with threadline.session("chat-obs", user_id="u-2"):
        assert outer() == 2
    root = spans.one("outer")
    assert [c.name for c in spans.children(root)] == ["inner", "inner"]
    for span in spans.finished():
        assert span.attributes[sc.SESSION_ID] == "chat-obs"
        assert span.attributes[sc.USER_ID] == "u-2"


def test_sync_exception_passes_unchanged(spans: CapturedSpans) -> None:
    err = BoomError("bad input")

    @threadline.observe("fails")
    def fails() -> None:
        raise err

    with pytest.raises(BoomError) as excinfo:
        fails()
    assert excinfo.value is err
    span = spans.one("fails")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "BoomError"
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_ERROR


async def test_async_function(spans: CapturedSpans) -> None:
    @threadline.observe("fetch")
    async def fetch(x: int) -> dict[str, int]:
        await asyncio.sleep(0)
        return {"x": x}

    @threadline.observe("turn")
    async def turn() -> list[dict[str, int]]:
        return list(await asyncio.gather(fetch(1), fetch(2)))

    assert await turn() == [{"x": 1}, {"x": 2}]
    root = spans.one("turn")
    kids = spans.children(root)
    assert [k.name for k in kids] == ["fetch", "fetch"]
    assert sorted(k.attributes[sc.OI_OUTPUT_VALUE] for k in kids) == ['{"x": 1}', '{"x": 2}']


async def test_async_exception_passes_unchanged(spans: CapturedSpans) -> None:
    err = BoomError("async")

    @threadline.observe("afails")
    async def afails() -> None:
        await asyncio.sleep(0)
        raise err

    with pytest.raises(BoomError) as excinfo:
        await afails()
    assert excinfo.value is err
    assert spans.one("afails").status.status_code is StatusCode.ERROR


async def test_a_cancelled_task_is_cancelled_not_an_error(spans: CapturedSpans) -> None:
    started = asyncio.Event()

    @threadline.observe("waits")
    async def waits() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.ensure_future(waits())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = spans.one("waits")
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_CANCELLED
    assert span.status.status_code is StatusCode.UNSET


def test_generator_covers_the_whole_iteration(spans: CapturedSpans) -> None:
    @threadline.observe("inner")
    def inner() -> int:
        return 0

    @threadline.observe("stream")
    def stream(n: int) -> Iterator[int]:
        for i in range(n):
            inner()  # runs inside the stream span
            yield i
        return None

    it = stream(3)
    assert spans.finished() == []  # nothing ends before the consumer finishes
    assert list(it) == [0, 1, 2]
    root = spans.one("stream")
    assert root.attributes[sc.OUTCOME] == sc.OUTCOME_OK
    assert [c.name for c in spans.children(root)] == ["inner"] * 3


def test_generator_return_value_passes_through(spans: CapturedSpans) -> None:
    @threadline.observe("g")
    def g() -> Iterator[int]:
        yield 1
        return 42

    def consume() -> Iterator[Any]:
        value = yield from g()
        yield value

    assert list(consume()) == [1, 42]
    assert spans.one("g").attributes[sc.OI_OUTPUT_VALUE] == "42"


def test_generator_closed_early_is_cancelled_and_the_inner_generator_closed(spans: CapturedSpans) -> None:
    cleaned: list[bool] = []

    @threadline.observe("stream")
    def stream() -> Iterator[int]:
        try:
            yield 1
            yield 2
        finally:
            cleaned.append(True)

    it = stream()
    assert next(it) == 1
    it.close()
    assert cleaned == [True]
    span = spans.one("stream")
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_CANCELLED
    assert span.status.status_code is StatusCode.UNSET


def test_generator_exception_passes_unchanged(spans: CapturedSpans) -> None:
    err = BoomError("mid-stream")

    @threadline.observe("stream")
    def stream() -> Iterator[int]:
        yield 1
        raise err

    it = stream()
    assert next(it) == 1
    with pytest.raises(BoomError) as excinfo:
        next(it)
    assert excinfo.value is err
    assert spans.one("stream").status.status_code is StatusCode.ERROR


async def test_async_generator(spans: CapturedSpans) -> None:
    @threadline.observe("tok")
    async def tok() -> int:
        return 0

    @threadline.observe("astream")
    async def astream(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await tok()
            yield i

    assert [i async for i in astream(3)] == [0, 1, 2]
    root = spans.one("astream")
    assert root.attributes[sc.OUTCOME] == sc.OUTCOME_OK
    assert [c.name for c in spans.children(root)] == ["tok"] * 3


async def test_async_generator_closed_early_is_cancelled_and_closed(spans: CapturedSpans) -> None:
    cleaned: list[bool] = []

    @threadline.observe("astream")
    async def astream() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            cleaned.append(True)

    agen = astream()
    assert await agen.__anext__() == 1
    await agen.aclose()
    assert cleaned == [True]
    span = spans.one("astream")
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_CANCELLED
    assert span.status.status_code is StatusCode.UNSET


async def test_async_generator_exception_passes_unchanged(spans: CapturedSpans) -> None:
    err = BoomError("astream")

    @threadline.observe("astream")
    async def astream() -> AsyncIterator[int]:
        yield 1
        raise err

    with pytest.raises(BoomError) as excinfo:
        async for _ in astream():
            pass
    assert excinfo.value is err
    span = spans.one("astream")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "BoomError"


def test_observe_survives_a_telemetry_failure(monkeypatch: pytest.MonkeyPatch, spans: CapturedSpans) -> None:
    from threadline.emitter import Emitter

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("telemetry bug")

    monkeypatch.setenv("THREADLINE_RAISE_INTERNAL", "0")
    monkeypatch.setattr(Emitter, "start", broken)
    result = object()

    @threadline.observe("f")
    def f() -> object:
        return result

    assert f() is result
    assert spans.finished() == []
