"""End spans of garbage-collected streams off the garbage collector's back.

``weakref.finalize`` callbacks and generator finalizers run inside a cyclic
garbage collection, which can start at any allocation, including while the
interrupted thread holds a lock that ending a span also takes (the cost
cache, an exporter queue): ending the span right there could deadlock the
application. While a collection runs (known from ``gc.callbacks``), such
ends are put on a :class:`queue.SimpleQueue` (whose ``put`` is safe in
finalizers) and done by one daemon thread. Outside a collection they run at
once.
"""

from __future__ import annotations

import gc
import queue
import threading
from collections.abc import Callable
from typing import Any

from threadline.guard import report

_collecting = False
_queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]]] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_thread_lock = threading.Lock()


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    global _collecting
    _collecting = phase == "start"


if _on_gc not in gc.callbacks:
    gc.callbacks.append(_on_gc)


def in_collection() -> bool:
    """True while the cyclic garbage collector is collecting."""
    return _collecting


def call_safely(fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` now, or on the reaper thread while a garbage collection runs."""
    if _collecting:
        _queue.put((fn, args))
        return
    fn(*args)


def ensure_started() -> None:
    """Start the reaper thread (from ordinary code: never from inside a collection)."""
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="threadline-openai-reaper", daemon=True)
            _thread.start()


def _run() -> None:
    while True:
        fn, args = _queue.get()
        try:
            fn(*args)
        except Exception as exc:
            report("openai.reaper", exc)


def settle(timeout: float = 5.0) -> bool:
    """Wait until every end deferred so far is done (tests, shutdown); False on timeout."""
    ensure_started()
    done = threading.Event()
    _queue.put((done.set, ()))  # one consumer, first in first out: everything before it is done
    return done.wait(timeout)
