"""A driven generator behaves as the generator itself: sent values, thrown errors, close and return value.

Checked with the scope on for every step and with a scope that is done after
the first step (the rest delegated as it is), sync and async.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
from typing import Any

import pytest

from threadline_langchain._slots import adrive, drive


class RetryError(Exception):
    pass


def _echo(seen: list[Any]) -> Generator[Any, Any, str]:
    value = yield "ready"
    while value != "stop":
        seen.append(value)
        try:
            value = yield f"got {value}"
        except RetryError:
            seen.append("retry")
            value = yield "retrying"
    return "finished"


async def _aecho(seen: list[Any]) -> AsyncGenerator[Any, Any]:
    """As :func:`_echo`; an async generator cannot return a value, so it notes its end."""
    reply = "ready"
    while True:
        try:
            value = yield reply
        except RetryError:
            seen.append("retry")
            reply = "retrying"
            continue
        if value == "stop":
            break
        seen.append(value)
        reply = f"got {value}"
    seen.append("finished")


class _Scope:
    def __init__(self, done_after: int | None) -> None:
        self.depth = 0
        self.steps = 0
        self.done_after = done_after

    def enter(self) -> int:
        self.depth += 1
        self.steps += 1
        return self.depth

    def leave(self, state: int) -> None:
        assert state == self.depth
        self.depth -= 1

    def done(self) -> bool:
        return self.done_after is not None and self.steps >= self.done_after


@pytest.mark.parametrize("done_after", [None, 1, 2])
def test_drive_forwards_send_throw_and_return(done_after: int | None) -> None:
    seen: list[Any] = []
    scope = _Scope(done_after)
    driven = drive(_echo(seen), scope.enter, scope.leave, scope.done)
    assert next(driven) == "ready"
    assert driven.send("a") == "got a"
    assert driven.throw(RetryError()) == "retrying"
    assert driven.send("b") == "got b"
    with pytest.raises(StopIteration) as stop:
        driven.send("stop")
    assert stop.value.value == "finished"
    assert seen == ["a", "retry", "b"]
    assert scope.depth == 0
    assert scope.steps == 5  # a value or an error for the generator is delivered by a scoped step


@pytest.mark.parametrize("done_after", [None, 1, 3])
def test_drive_delegates_plain_iteration_once_done(done_after: int | None) -> None:
    scope = _Scope(done_after)
    numbers = (i for i in range(6))
    assert list(drive(numbers, scope.enter, scope.leave, scope.done)) == list(range(6))
    assert scope.steps == (7 if done_after is None else done_after)
    assert scope.depth == 0


@pytest.mark.parametrize("done_after", [None, 1])
def test_drive_closes_the_generator(done_after: int | None) -> None:
    closed: list[bool] = []

    def gen() -> Generator[int, None, None]:
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    scope = _Scope(done_after)
    driven = drive(gen(), scope.enter, scope.leave, scope.done)
    assert next(driven) == 1
    driven.close()
    assert closed == [True]
    assert scope.depth == 0


@pytest.mark.parametrize("done_after", [None, 1, 2])
def test_adrive_forwards_send_throw_and_close(done_after: int | None) -> None:
    async def run() -> list[Any]:
        seen: list[Any] = []
        scope = _Scope(done_after)
        driven = adrive(_aecho(seen), scope.enter, scope.leave, scope.done)
        assert await driven.asend(None) == "ready"
        assert await driven.asend("a") == "got a"
        assert await driven.athrow(RetryError()) == "retrying"
        assert await driven.asend("b") == "got b"
        with pytest.raises(StopAsyncIteration):
            await driven.asend("stop")
        assert scope.depth == 0
        assert scope.steps == (5 if done_after is None else done_after)  # the scope is off once done
        return seen

    assert asyncio.run(run()) == ["a", "retry", "b", "finished"]
