"""Streams instrumented in place: the user keeps the SDK's own ``Stream`` object.

``Stream`` / ``AsyncStream`` read every item through ``self._iterator``
(``__next__``, ``__iter__``, and the ``.stream()`` helpers that iterate the
raw stream). A traced stream gets that iterator replaced by a generator that
feeds an accumulator and passes every item through unchanged; the object, its
type, ``with``, ``close()`` and the raw-response wrappers stay the SDK's.

The span ends once, with ``threadline.stream.end_reason``:

* ``completed``: the iterator ran out;
* ``error``: it raised (the SDK's exception still reaches the user);
* ``closed_early``: ``close()`` (or ``with`` exit) on the stream or on a
  ``.stream()`` helper before the end, or a ``for`` loop left early
  (``Stream.__iter__`` is watched for that);
* ``garbage_collected``: the stream was dropped unfinished and never closed
  (``weakref.finalize``), e.g. never iterated at all.

An end noticed inside a garbage collection is handed to the reaper thread
(:mod:`._reaper`) rather than done on the collector's back.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

from threadline.guard import failed
from threadline_openai import _extract as ex
from threadline_openai._calls import CLOSED_EARLY, COMPLETED, ERROR, GARBAGE_COLLECTED, Call
from threadline_openai._reaper import call_safely, ensure_started

TRACKER_ATTR = "_threadline_stream"


class StreamTracker:
    """Feeds a call's accumulator from a stream and ends the call once."""

    __slots__ = ("call", "acc", "finalizer")

    def __init__(self, call: Call) -> None:
        self.call = call
        self.acc = ex.accumulator(call.route or "", call.capture)  # a traced stream always has a route
        self.finalizer: Any = None

    @property
    def ended(self) -> bool:
        """Whether the stream's call has ended (exhausted, closed, failed or collected)."""
        return self.call.ended

    def on_item(self, item: Any) -> None:
        """Fold one streamed event into the accumulated result (first token, text, usage)."""
        acc = self.acc
        if acc is None or self.call.ended:
            return
        try:
            if acc.feed(item):
                self.call.emitter.first_token(self.call.handle)
        except Exception as exc:
            if failed("openai.stream.item", exc):
                raise

    def finish(self, reason: str, error: BaseException | None = None) -> None:
        """End the call once: with ``reason``, or as failed with ``error`` (what was read is kept)."""
        call = self.call
        if call.ended:
            return
        try:
            self._detach()
            record = call.record
            if self.acc is not None:
                self.acc.finish(record)  # type: ignore[arg-type]
            if error is not None:
                call.fail(error, stream_reason=reason)
            else:
                record.stream_end_reason = reason  # type: ignore[union-attr]
                call.end()
        except Exception as exc:
            if failed("openai.stream.end", exc):
                raise

    # One body for the sync and async generators that read the stream: ``with tracker`` around the loop.
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.finish(COMPLETED)
        elif isinstance(exc, GeneratorExit):
            call_safely(self.finish, GARBAGE_COLLECTED)  # only the stream holds the generator: it is being collected
        else:
            self.finish(ERROR, exc)  # the SDK's exception still reaches the user

    def on_gc(self) -> None:
        """The stream was garbage collected unfinished: end its call as such."""
        call_safely(self.finish, GARBAGE_COLLECTED)

    def _detach(self) -> None:
        finalizer = self.finalizer
        if finalizer is not None:
            self.finalizer = None
            finalizer.detach()


def _traced(inner: Iterator[Any], tracker: StreamTracker) -> Iterator[Any]:
    with tracker:
        for item in inner:
            tracker.on_item(item)
            yield item


async def _atraced(inner: AsyncIterator[Any], tracker: StreamTracker) -> AsyncIterator[Any]:
    with tracker:
        async for item in inner:
            tracker.on_item(item)
            yield item


def trace_stream(stream: Any, call: Call, *, is_async: bool) -> None:
    """Instrument ``stream`` in place so ``call`` ends with it."""
    inner = getattr(stream, "_iterator", None)
    if inner is None:  # not the SDK's Stream shape: end now rather than never
        call.end()
        return
    ensure_started()
    tracker = StreamTracker(call)
    stream._iterator = _atraced(inner, tracker) if is_async else _traced(inner, tracker)
    stream.__dict__[TRACKER_ATTR] = tracker
    finalizer = weakref.finalize(stream, tracker.on_gc)
    finalizer.atexit = False
    tracker.finalizer = finalizer


def tracker_of(stream: Any) -> StreamTracker | None:
    """The tracker of a traced stream (``None`` for any other object)."""
    try:
        return stream.__dict__.get(TRACKER_ATTR)
    except AttributeError:
        return None


# --- class-level hooks (wrapt wrappers) ------------------------------------------------
def _watch(it: Iterator[Any], tracker: StreamTracker) -> Iterator[Any]:
    try:
        yield from it
    except GeneratorExit:
        call_safely(tracker.finish, CLOSED_EARLY)  # the consumer left its ``for`` loop before the end
        raise


async def _awatch(it: AsyncIterator[Any], tracker: StreamTracker) -> AsyncIterator[Any]:
    try:
        async for item in it:
            yield item
    except GeneratorExit:
        call_safely(tracker.finish, CLOSED_EARLY)
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()
        raise


def iter_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``Stream.__iter__`` and ``AsyncStream.__aiter__``: notice a loop that stops before the end."""
    result = wrapped(*args, **kwargs)
    tracker = tracker_of(instance)
    if tracker is None or tracker.ended:
        return result
    return _awatch(result, tracker) if hasattr(result, "__anext__") else _watch(result, tracker)


def close_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``close`` of a stream or of a ``.stream()`` helper: an unfinished stream ends ``closed_early``.

    The helpers close the HTTP response, not the raw stream they wrap
    (``_raw_stream``), so their tracker is looked up there.
    """
    tracker = tracker_of(getattr(instance, "_raw_stream", instance))
    if tracker is not None and not tracker.ended:
        call_safely(tracker.finish, CLOSED_EARLY)  # close() may come from a finalizer
    return wrapped(*args, **kwargs)


__all__ = [
    "CLOSED_EARLY",
    "COMPLETED",
    "ERROR",
    "GARBAGE_COLLECTED",
    "StreamTracker",
    "close_wrapper",
    "iter_wrapper",
    "trace_stream",
    "tracker_of",
]
