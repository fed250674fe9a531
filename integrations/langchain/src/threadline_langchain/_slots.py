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
from collections.abc import AsyncGenerator, Callable, Generator
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


def drive(gen: Generator[Any, Any, Any], enter: Enter, leave: Leave) -> Generator[Any, Any, Any]:
    """Re-yield ``gen`` with ``enter()`` / ``leave(state)`` around each of its steps.

    ``send``, ``throw`` and ``close`` reach ``gen`` as they would through
    ``yield from`` (PEP 380), each inside the scope as well.
    """
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        state = enter()
        try:
            if to_throw is not None:
                exc, to_throw = to_throw, None
                item = gen.throw(exc)
            else:
                item = gen.send(to_send)
        except StopIteration as stop:
            return stop.value
        finally:
            leave(state)
        try:
            to_send = yield item
        except GeneratorExit:
            if not gen.gi_running:  # else it is being closed from inside itself
                state = enter()
                try:
                    gen.close()
                finally:
                    leave(state)
            raise
        except BaseException as exc:  # noqa: BLE001 - forwarded into gen, as `yield from` does
            to_throw, to_send = exc, None


async def adrive(agen: AsyncGenerator[Any, Any], enter: Enter, leave: Leave) -> AsyncGenerator[Any, Any]:
    """The async counterpart of :func:`drive` (``asend``, ``athrow``, ``aclose`` forwarded)."""
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        state = enter()
        try:
            if to_throw is not None:
                exc, to_throw = to_throw, None
                item = await agen.athrow(exc)
            else:
                item = await agen.asend(to_send)
        except StopAsyncIteration:
            return
        finally:
            leave(state)
        try:
            to_send = yield item
        except GeneratorExit:
            # At interpreter or event-loop shutdown every async generator is closed at once: the
            # inner one may be closing already, on its own.
            if not getattr(agen, "ag_running", False):
                state = enter()
                try:
                    await agen.aclose()
                finally:
                    leave(state)
            raise
        except BaseException as exc:  # noqa: BLE001 - forwarded into agen
            to_throw, to_send = exc, None
