"""The wrapt wrappers: ``request`` (the choke point), retries and raw-response parsing.

``SyncAPIClient.request`` / ``AsyncAPIClient.request`` are what every
resource method of both SDK majors calls, once per logical call, above the
retry loop; Azure clients inherit them. A call returns one of:

* a parsed object: the span ends at once;
* a ``Stream`` / ``AsyncStream``: it is traced in place (see :mod:`._streams`);
* a raw response (``with_raw_response`` / ``with_streaming_response``): the
  span ends when its ``parse()`` runs (a parsed stream is then traced in
  place), or when the raw response is garbage collected unparsed.
"""

from __future__ import annotations

import contextvars
import json
import weakref
from typing import Any

from opentelemetry import context as otel_context

from threadline.guard import failed, guard
from threadline_openai._calls import GARBAGE_COLLECTED, Call, begin
from threadline_openai._reaper import call_safely, ensure_started
from threadline_openai._streams import trace_stream

PENDING_ATTR = "_threadline_call"

_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("threadline_openai_call", default=None)


_types: tuple[type, type, tuple[type, ...]] | None = None  # Stream, AsyncStream, raw response classes


def _load_types() -> tuple[type, type, tuple[type, ...]]:
    global _types
    from openai._legacy_response import LegacyAPIResponse
    from openai._response import BaseAPIResponse
    from openai._streaming import AsyncStream, Stream

    _types = Stream, AsyncStream, (BaseAPIResponse, LegacyAPIResponse)
    return _types


class _Running:
    """The SDK's ``request`` running for one call: the call's span is current, the call is the retry target.

    One body for the sync and async shells below: a plain ``with`` works in
    both, and the user's call runs inside it exactly once, outside any guard.
    """

    __slots__ = ("call", "token", "attached")

    def __init__(self, client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        options = args[1] if len(args) > 1 else kwargs.get("options")
        stream = bool(kwargs.get("stream", args[2] if len(args) > 2 else False))
        self.call = begin(client, options, stream) if options is not None else None

    def __enter__(self) -> None:
        call: Call = self.call  # type: ignore[assignment]  # the shells enter only with a call
        self.token = _current.set(call)
        self.attached = otel_context.attach(call.handle.context)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc is not None:  # the user's exception propagates as it is (nothing returned here)
                with guard("openai.request.error"):
                    self.call.fail(exc)  # type: ignore[union-attr]
        finally:
            otel_context.detach(self.attached)
            _current.reset(self.token)

    def returned(self, result: Any) -> Any:
        """Hand ``result`` to the call (it ends now, or with its stream or raw response); ``result`` back."""
        try:
            _returned(self.call, result)  # type: ignore[arg-type]
        except Exception as exc:
            if failed("openai.request.end", exc):
                raise
        return result


def request_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``SyncAPIClient.request``: one span per logical call, retries included."""
    running = _Running(instance, args, kwargs)
    if running.call is None:
        return wrapped(*args, **kwargs)
    with running:
        result = wrapped(*args, **kwargs)
    return running.returned(result)


async def async_request_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``AsyncAPIClient.request``: as :func:`request_wrapper`, awaited."""
    running = _Running(instance, args, kwargs)
    if running.call is None:
        return await wrapped(*args, **kwargs)
    with running:
        result = await wrapped(*args, **kwargs)
    return running.returned(result)


def _returned(call: Call, result: Any) -> None:
    stream_cls, async_stream_cls, raw_classes = _types or _load_types()
    if isinstance(result, (stream_cls, async_stream_cls)):
        if call.route is None:
            call.end()  # an endpoint we do not model: the span covers the request only
        else:
            trace_stream(result, call, is_async=isinstance(result, async_stream_cls))
        return
    if isinstance(result, raw_classes):
        if call.route is None:
            call.end()
            return
        http_response = getattr(result, "http_response", None)
        streamed = bool(getattr(result, "_is_sse_stream", getattr(result, "_stream", False)))
        ensure_started()
        finalizer = weakref.finalize(result, call_safely, _raw_collected, call, http_response, streamed)
        finalizer.atexit = False
        result.__dict__[PENDING_ATTR] = (call, finalizer)
        return
    call.succeed(result)


def _raw_collected(call: Call, http_response: Any, streamed: bool) -> None:
    """A raw response dropped without ``parse()``: end with what its body says, if it was read."""
    if call.ended:
        return
    with guard("openai.raw.collected"):
        if streamed:
            if hasattr(call.record, "stream_end_reason"):
                call.record.stream_end_reason = GARBAGE_COLLECTED  # type: ignore[union-attr]
            call.end()
            return
        body = None
        try:
            body = json.loads(http_response.content)
        except Exception:
            body = None
        if isinstance(body, dict):
            call.succeed(body)
        else:
            call.end()


def parse_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``BaseAPIResponse._parse`` / ``LegacyAPIResponse._parse``: a raw response's result arrives."""
    try:
        pending = instance.__dict__.pop(PENDING_ATTR, None)
    except AttributeError:
        pending = None
    if pending is None:
        return wrapped(*args, **kwargs)
    call, finalizer = pending
    finalizer.detach()
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        with guard("openai.parse.error"):
            call.fail(exc)
        raise
    with guard("openai.parse.end"):
        _returned(call, result)  # a parsed object or a stream, as if request() had returned it
    return result


def retry_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``_sleep_for_retry``: count a retry on the call in progress."""
    call = _current.get()
    if call is not None and not call.ended:
        call.note_retry()
    return wrapped(*args, **kwargs)
