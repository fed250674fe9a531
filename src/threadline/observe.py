"""``@threadline.observe``: a span around any function, sync, async or generator."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import context as otel_context

from threadline import _runtime
from threadline.guard import failed
from threadline.records import Outcome, Run, SpanKind

F = TypeVar("F", bound=Callable[..., Any])


class _Call:
    """One observed call: the shared core of every wrapper shape (sync, async, generator, async generator).

    ``with call:`` makes its span current for one step of the user's code;
    with ``ends=True`` leaving the block also ends the span, with the value
    given to :meth:`done` or the exception that left the block. The span is
    ``None`` when starting it failed: the user's code then runs untraced.
    """

    __slots__ = ("handle", "ctx", "token", "ends", "result")

    def __init__(self, name: str, kind: SpanKind, capture_args: bool, args: Any, kwargs: Any, ends: bool) -> None:
        # try/except rather than ``with guard(...)``: a context manager per call costs more.
        handle = None
        try:
            inputs = {"args": list(args), "kwargs": kwargs} if capture_args and (args or kwargs) else None
            handle = _runtime.emitter().start(Run(name=name, run_kind=kind, inputs=inputs))
        except Exception as exc:
            if failed("observe.start", exc):
                raise
        self.handle = handle
        self.ctx = handle.context if handle is not None else None
        self.token: Any = None
        self.ends = ends
        self.result: Any = None

    def __enter__(self) -> _Call:
        if self.ctx is not None:
            self.token = otel_context.attach(self.ctx)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        token, self.token = self.token, None
        if token is not None:
            otel_context.detach(token)
        if self.ends:
            self.end(self.result, exc)

    def done(self, result: Any) -> Any:
        """Keep ``result`` for the span's output; returns it."""
        self.result = result
        return result

    def end(self, result: Any = None, error: BaseException | None = None, outcome: Outcome | None = None) -> None:
        """End the span with the function's result, or the error it raised, or an outcome."""
        handle = self.handle
        if handle is None:
            return
        if outcome is None and isinstance(error, asyncio.CancelledError):
            outcome = Outcome.CANCELLED  # a cancelled task is not a failure of the function
        try:
            if error is None and result is not None:
                handle.record.outputs = result
            _runtime.emitter().end(handle, error=error, outcome=outcome)
        except Exception as exc:
            if failed("observe.end", exc):
                raise


def observe(
    name: str | None = None, *, kind: SpanKind | str = SpanKind.OBSERVE, capture_args: bool = True
) -> Callable[[F], F]:
    """Decorate a function so each call is a span, parented under the current one.

    Works on sync and async functions and on sync and async generators (the
    span covers the whole iteration; ``send`` / ``throw`` / ``close`` and the
    return value pass through as with ``yield from``, so ``@contextmanager``
    stacks on top; a consumer that stops early ends it as cancelled).
    Arguments and the return value are captured as content, subject to
    ``capture_content`` and the redaction hook.
    """
    span_kind = SpanKind(kind)

    def decorate(func: F) -> F:
        span_name = name or getattr(func, "__qualname__", None) or getattr(func, "__name__", "observe")

        def begin(args: Any, kwargs: Any, ends: bool) -> _Call:
            return _Call(span_name, span_kind, capture_args, args, kwargs, ends)

        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                # The async twin of _drive (an async generator cannot delegate with ``yield from``).
                call = begin(args, kwargs, False)
                with _Iterating(call):
                    with call:
                        agen = func(*args, **kwargs)
                    sent: Any = None
                    thrown: BaseException | None = None
                    while True:
                        with call:
                            try:
                                item = await (agen.asend(sent) if thrown is None else agen.athrow(thrown))
                            except StopAsyncIteration:
                                break
                        thrown = None
                        try:
                            sent = yield item
                        except GeneratorExit:
                            if not agen.ag_running:  # else it is being closed from inside itself
                                with call:
                                    await agen.aclose()
                            raise
                        except BaseException as exc:  # noqa: BLE001 - forwarded into agen, as `yield from` would
                            sent, thrown = None, exc
                call.end()

            return agen_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                return (yield from _drive(begin(args, kwargs, False), func, args, kwargs))

            return gen_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with begin(args, kwargs, True) as call:
                    return call.done(await func(*args, **kwargs))

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with begin(args, kwargs, True) as call:
                return call.done(func(*args, **kwargs))

        return wrapper  # type: ignore[return-value]

    return decorate


class _Iterating:
    """Around a generator's whole iteration: a consumer that stops early ends the span cancelled; an error, errored."""

    __slots__ = ("call",)

    def __init__(self, call: _Call) -> None:
        self.call = call

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc_type is GeneratorExit:
            self.call.end(outcome=Outcome.CANCELLED)
        elif exc is not None:
            self.call.end(error=exc)


def _drive(call: _Call, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Run ``func(*args, **kwargs)``'s generator with the span current in each step; the span ends with it.

    ``send``, ``throw`` and ``close`` reach the user's generator as through
    ``yield from`` (PEP 380), each inside the span; its return value passes through.
    """
    with _Iterating(call):
        with call:
            gen = func(*args, **kwargs)  # bad arguments raise here: the span ends with the error
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            with call:
                try:
                    item = gen.send(sent) if thrown is None else gen.throw(thrown)
                except StopIteration as stop:
                    result = stop.value
                    break
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                if not gen.gi_running:  # else it is being closed from inside itself
                    with call:
                        gen.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - forwarded into gen, as `yield from` would
                sent, thrown = None, exc
    call.end(result)
    return result
