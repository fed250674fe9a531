"""Context slots that tell the handler which run a wrapped call is about to start.

A wrapper around a generator (``BaseChatModel.stream``, LangGraph's
``Pregel.stream``) does not know the run id LangChain will give the run it
starts: that happens inside the first ``next()``. The wrapper puts a fresh
slot in a context variable around each step; the handler fills the slot when
that run starts (the first run started in the slot's context). Later steps,
and the context provider, read the run back from the slot.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any

from threadline_langchain._registry import RunEntry


class ModelSlot:
    """The model run a ``stream()`` / ``astream()`` call drives (filled at its start)."""

    __slots__ = ("entry",)

    def __init__(self) -> None:
        self.entry: RunEntry | None = None


MODEL_SLOT: contextvars.ContextVar[ModelSlot | None] = contextvars.ContextVar(
    "threadline_langchain_model_slot", default=None
)

Enter = Callable[[], Any]
Leave = Callable[[Any], None]
Done = Callable[[], bool]


def drive(
    gen: Generator[Any, Any, Any], enter: Enter, leave: Leave, done: Done | None = None
) -> Generator[Any, Any, Any]:
    """Re-yield ``gen`` with ``enter()`` / ``leave(state)`` around each of its steps.

    ``send``, ``throw`` and ``close`` reach ``gen`` as they would through
    ``yield from`` (PEP 380), each inside the scope as well. Once ``done()``
    is true after a step, the scope has nothing more to do: the rest is
    delegated with ``yield from`` itself (no Python work per step).
    """
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        if done is not None and sent is None and thrown is None and done():  # nothing pending for gen
            return (yield from gen)
        state = enter()
        try:
            item = gen.send(sent) if thrown is None else gen.throw(thrown)
        except StopIteration as stop:
            return stop.value
        finally:
            leave(state)
        thrown = None
        try:
            sent = yield item
        except GeneratorExit:
            if not gen.gi_running:  # else it is being closed from inside itself
                _scoped(gen.close, enter, leave)
            raise
        except BaseException as exc:  # noqa: BLE001 - forwarded into gen, as `yield from` does
            sent, thrown = None, exc


def _scoped(step: Callable[[], Any], enter: Enter, leave: Leave) -> Any:
    state = enter()
    try:
        return step()
    finally:
        leave(state)


async def adrive(
    agen: AsyncGenerator[Any, Any], enter: Enter, leave: Leave, done: Done | None = None
) -> AsyncGenerator[Any, Any]:
    """The async counterpart of :func:`drive` (``asend``, ``athrow``, ``aclose`` forwarded; unscoped once done)."""
    sent: Any = None
    thrown: BaseException | None = None
    scoped = True
    while True:
        # Made outside the scope: ``asend`` / ``athrow`` run nothing until awaited, inside it.
        step = agen.asend(sent) if thrown is None else agen.athrow(thrown)
        scoped = scoped and not (done is not None and done())
        try:
            item = await (_ascoped(step, enter, leave) if scoped else step)
        except StopAsyncIteration:
            return
        thrown = None
        try:
            sent = yield item
        except GeneratorExit:
            # At interpreter or event-loop shutdown every async generator is closed at once: the
            # inner one may be closing already, on its own.
            if not getattr(agen, "ag_running", False):
                await _ascoped(agen.aclose(), enter, leave)
            raise
        except BaseException as exc:  # noqa: BLE001 - forwarded into agen
            sent, thrown = None, exc


async def _ascoped(step: Awaitable[Any], enter: Enter, leave: Leave) -> Any:
    state = enter()
    try:
        return await step
    finally:
        leave(state)
