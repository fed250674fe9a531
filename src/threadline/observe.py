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


def _start(name: str, kind: SpanKind, capture_args: bool, args: Any, kwargs: Any) -> Any:
    # try/except rather than ``with guard(...)``: a context manager per call costs more.
    try:
        inputs = {"args": list(args), "kwargs": kwargs} if capture_args and (args or kwargs) else None
        return _runtime.emitter().start(Run(name=name, run_kind=kind, inputs=inputs))
    except Exception as exc:
        if failed("observe.start", exc):
            raise
    return None


def _end(handle: Any, result: Any = None, error: BaseException | None = None, outcome: Outcome | None = None) -> None:
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
    span covers the whole iteration; a consumer that stops early ends it as
    cancelled). Arguments and the return value are captured as content,
    subject to ``capture_content`` and the redaction hook.
    """
    span_kind = SpanKind(kind)

    def decorate(func: F) -> F:
        span_name = name or getattr(func, "__qualname__", None) or getattr(func, "__name__", "observe")

        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                handle = _start(span_name, span_kind, capture_args, args, kwargs)
                ctx = handle.context if handle is not None else otel_context.get_current()
                token = otel_context.attach(ctx)
                try:
                    agen = func(*args, **kwargs)
                finally:
                    otel_context.detach(token)
                try:
                    while True:
                        token = otel_context.attach(ctx)
                        try:
                            item = await agen.__anext__()
                        except StopAsyncIteration:
                            break
                        finally:
                            otel_context.detach(token)
                        yield item
                except GeneratorExit:
                    token = otel_context.attach(ctx)
                    try:
                        await agen.aclose()
                    finally:
                        otel_context.detach(token)
                        _end(handle, outcome=Outcome.CANCELLED)
                    raise
                except BaseException as exc:
                    _end(handle, error=exc)
                    raise
                _end(handle)

            return agen_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                handle = _start(span_name, span_kind, capture_args, args, kwargs)
                ctx = handle.context if handle is not None else otel_context.get_current()
                token = otel_context.attach(ctx)
                try:
                    gen = func(*args, **kwargs)
                finally:
                    otel_context.detach(token)
                try:
                    while True:
                        token = otel_context.attach(ctx)
                        try:
                            item = next(gen)
                        except StopIteration as stop:
                            _end(handle, stop.value)
                            return stop.value
                        finally:
                            otel_context.detach(token)
                        yield item
                except GeneratorExit:
                    token = otel_context.attach(ctx)
                    try:
                        gen.close()
                    finally:
                        otel_context.detach(token)
                        _end(handle, outcome=Outcome.CANCELLED)
                    raise
                except BaseException as exc:
                    _end(handle, error=exc)
                    raise

            return gen_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                handle = _start(span_name, span_kind, capture_args, args, kwargs)
                token = otel_context.attach(handle.context) if handle is not None else None
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    if token is not None:
                        otel_context.detach(token)
                        token = None
                    _end(handle, error=exc)
                    raise
                finally:
                    if token is not None:
                        otel_context.detach(token)
                _end(handle, result)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            handle = _start(span_name, span_kind, capture_args, args, kwargs)
            token = otel_context.attach(handle.context) if handle is not None else None
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                if token is not None:
                    otel_context.detach(token)
                    token = None
                _end(handle, error=exc)
                raise
            finally:
                if token is not None:
                    otel_context.detach(token)
            _end(handle, result)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate
