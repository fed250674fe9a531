"""``@threadline.observe`` on generators: ``send`` / ``throw`` / ``close`` reach the user's generator as without it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import threadline
from threadline import semconv as sc
from threadline.testing import CapturedSpans


class BoomError(Exception):
    pass


class ConvertedError(Exception):
    pass


def test_generator_receives_sent_values_and_returns(spans: CapturedSpans) -> None:
    seen: list[Any] = []

    @threadline.observe("echo")
    def echo() -> Generator[str, str, int]:
        total = 0
        while True:
            got = yield f"sum={total}"
            seen.append(got)
            if got == "stop":
                return total
            total += len(got)

    gen = echo()
    assert next(gen) == "sum=0"
    assert gen.send("ab") == "sum=2"
    assert gen.send("cde") == "sum=5"
    with pytest.raises(StopIteration) as stop:
        gen.send("stop")
    assert stop.value.value == 5
    assert seen == ["ab", "cde", "stop"]
    span = spans.one("echo")
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_OK
    assert span.attributes[sc.OI_OUTPUT_VALUE] == "5"


async def test_async_generator_receives_sent_values(spans: CapturedSpans) -> None:
    seen: list[Any] = []

    @threadline.observe("aecho")
    async def aecho() -> AsyncGenerator[str, str]:
        total = 0
        while True:
            got = yield f"sum={total}"
            seen.append(got)
            if got == "stop":
                return
            total += len(got)

    agen = aecho()
    assert await agen.__anext__() == "sum=0"
    assert await agen.asend("ab") == "sum=2"
    assert await agen.asend("cde") == "sum=5"
    with pytest.raises(StopAsyncIteration):
        await agen.asend("stop")
    assert seen == ["ab", "cde", "stop"]
    assert spans.one("aecho").attributes[sc.OUTCOME] == sc.OUTCOME_OK


def _recovering(log: list[str]) -> Callable[[], Generator[str, None, None]]:
    def stream() -> Generator[str, None, None]:
        try:
            while True:
                try:
                    yield "item"
                except BoomError as exc:
                    log.append(f"caught {exc}")
                    yield "recovered"
                except ValueError as exc:
                    raise ConvertedError(str(exc)) from exc
        finally:
            log.append("finally")

    return stream


def test_generator_receives_thrown_exceptions(spans: CapturedSpans) -> None:
    log: list[str] = []
    swallows = threadline.observe("swallows")(_recovering(log))
    gen = swallows()
    assert next(gen) == "item"
    assert gen.throw(BoomError("one")) == "recovered"  # swallowed by the user's except
    assert next(gen) == "item"
    gen.close()  # early close after the recovery: cancelled, not an error
    assert log == ["caught one", "finally"]
    span = spans.one("swallows")
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_CANCELLED
    assert span.status.status_code is StatusCode.UNSET

    converts = threadline.observe("converts")(_recovering(log := []))
    gen = converts()
    next(gen)
    with pytest.raises(ConvertedError) as excinfo:
        gen.throw(ValueError("bad"))
    assert isinstance(excinfo.value.__cause__, ValueError)
    assert log == ["finally"]  # the user's finally ran at once, not at garbage collection
    span = spans.one("converts")
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_ERROR
    assert span.attributes[sc.ERROR_TYPE] == "ConvertedError"


def _arecovering(log: list[str]) -> Callable[[], AsyncGenerator[str, None]]:
    async def astream() -> AsyncGenerator[str, None]:
        try:
            while True:
                try:
                    yield "item"
                except BoomError as exc:
                    log.append(f"caught {exc}")
                    yield "recovered"
                except ValueError as exc:
                    raise ConvertedError(str(exc)) from exc
        finally:
            log.append("finally")

    return astream


async def test_async_generator_receives_thrown_exceptions(spans: CapturedSpans) -> None:
    log: list[str] = []
    swallows = threadline.observe("aswallows")(_arecovering(log))
    agen = swallows()
    assert await agen.__anext__() == "item"
    assert await agen.athrow(BoomError("one")) == "recovered"
    assert await agen.__anext__() == "item"
    await agen.aclose()
    assert log == ["caught one", "finally"]
    span = spans.one("aswallows")
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_CANCELLED
    assert span.status.status_code is StatusCode.UNSET

    converts = threadline.observe("aconverts")(_arecovering(log := []))
    agen = converts()
    await agen.__anext__()
    with pytest.raises(ConvertedError) as excinfo:
        await agen.athrow(ValueError("bad"))
    assert isinstance(excinfo.value.__cause__, ValueError)
    assert log == ["finally"]
    span = spans.one("aconverts")
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_ERROR
    assert span.attributes[sc.ERROR_TYPE] == "ConvertedError"


def _transaction(log: list[str]) -> Callable[[bool], Generator[str, None, None]]:
    def transaction(swallow: bool) -> Generator[str, None, None]:
        log.append("begin")
        try:
            yield "tx"
        except BoomError:
            log.append("rollback")
            if not swallow:
                raise
        else:
            log.append("commit")

    return transaction


def _run_transactions(make: Callable[[list[str]], Callable[[bool], Any]]) -> list[str]:
    """What a user of the context manager sees: the log, and which exceptions got out."""
    log: list[str] = []
    cm = make(log)
    with cm(False) as tx:
        log.append(f"work in {tx}")
    try:
        with cm(False):
            raise BoomError("fails")
    except BoomError:
        log.append("escaped")
    with cm(True):
        raise BoomError("swallowed")
    log.append("after swallowed")
    return log


def test_contextmanager_on_observe_behaves_as_without_it(spans: CapturedSpans) -> None:
    def plain(log: list[str]) -> Any:
        return contextlib.contextmanager(_transaction(log))

    def observed(log: list[str]) -> Any:
        return contextlib.contextmanager(threadline.observe("tx")(_transaction(log)))

    expected = ["begin", "work in tx", "commit", "begin", "rollback", "escaped", "begin", "rollback", "after swallowed"]
    assert _run_transactions(plain) == expected
    assert _run_transactions(observed) == expected
    outcomes = [s.attributes[sc.OUTCOME] for s in spans.finished()]
    assert outcomes == [sc.OUTCOME_OK, sc.OUTCOME_ERROR, sc.OUTCOME_OK]


def _atransaction(log: list[str]) -> Callable[[bool], AsyncGenerator[str, None]]:
    async def atransaction(swallow: bool) -> AsyncGenerator[str, None]:
        log.append("begin")
        try:
            yield "tx"
        except BoomError:
            log.append("rollback")
            if not swallow:
                raise
        else:
            log.append("commit")

    return atransaction


async def _arun_transactions(make: Callable[[list[str]], Callable[[bool], Any]]) -> list[str]:
    log: list[str] = []
    cm = make(log)
    async with cm(False) as tx:
        log.append(f"work in {tx}")
    try:
        async with cm(False):
            raise BoomError("fails")
    except BoomError:
        log.append("escaped")
    async with cm(True):
        raise BoomError("swallowed")
    log.append("after swallowed")
    return log


async def test_asynccontextmanager_on_observe_behaves_as_without_it(spans: CapturedSpans) -> None:
    def plain(log: list[str]) -> Any:
        return contextlib.asynccontextmanager(_atransaction(log))

    def observed(log: list[str]) -> Any:
        return contextlib.asynccontextmanager(threadline.observe("atx")(_atransaction(log)))

    expected = ["begin", "work in tx", "commit", "begin", "rollback", "escaped", "begin", "rollback", "after swallowed"]
    assert await _arun_transactions(plain) == expected
    assert await _arun_transactions(observed) == expected
    outcomes = [s.attributes[sc.OUTCOME] for s in spans.finished()]
    assert outcomes == [sc.OUTCOME_OK, sc.OUTCOME_ERROR, sc.OUTCOME_OK]


def test_generator_made_with_bad_arguments_ends_its_span_with_the_error(spans: CapturedSpans) -> None:
    def stream(n: int) -> Iterator[int]:
        yield n

    with pytest.raises(TypeError) as plain:
        stream(1, 2)  # type: ignore[call-arg]
    observed = threadline.observe("stream")(stream)
    with pytest.raises(TypeError) as excinfo:
        next(observed(1, 2))
    assert str(excinfo.value) == str(plain.value)
    span = spans.one("stream")
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_ERROR
    assert span.attributes[sc.ERROR_TYPE] == "TypeError"
    assert span.status.status_code is StatusCode.ERROR


async def test_async_generator_made_with_bad_arguments_ends_its_span_with_the_error(spans: CapturedSpans) -> None:
    async def astream(n: int) -> AsyncIterator[int]:
        yield n

    with pytest.raises(TypeError) as plain:
        astream(1, 2)  # type: ignore[call-arg]
    observed = threadline.observe("astream")(astream)
    with pytest.raises(TypeError) as excinfo:
        await observed(1, 2).__anext__()
    assert str(excinfo.value) == str(plain.value)
    span = spans.one("astream")
    assert span.attributes[sc.OUTCOME] == sc.OUTCOME_ERROR
    assert span.attributes[sc.ERROR_TYPE] == "TypeError"
    assert span.status.status_code is StatusCode.ERROR
