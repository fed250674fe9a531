"""Interrupts waiting for an answer, by LangGraph thread, for linking a resume to its pause.

When a top-level graph run pauses, its thread id, the interrupt ids, the
checkpoint it paused at and the span context of the paused run are kept
here; the next run on that thread that resumes (``Command(resume=...)``, a
resume map, or ``None`` input) takes them, so the resumed trace names what it
answers and links to the trace that asked. Bounded: the oldest threads are
forgotten first (a resume then still carries the checkpoint id LangGraph
reports, just no link).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_THREADS = 10_000


@dataclass(frozen=True, slots=True)
class Pending:
    """A pause a thread has not answered yet."""

    interrupt_ids: Sequence[str]
    checkpoint_id: str | None
    span_context: Any  # the paused graph run's OpenTelemetry SpanContext


class PendingInterrupts:
    """Thread id -> :class:`Pending`, locked and bounded."""

    def __init__(self, max_threads: int = MAX_THREADS) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Pending] = OrderedDict()
        self._max = max_threads

    def __len__(self) -> int:
        return len(self._items)

    def put(self, thread_id: Any, pending: Pending) -> None:
        """Remember the pause of ``thread_id`` (replacing an older one)."""
        key = str(thread_id)
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = pending
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def pop(self, thread_id: Any) -> Pending | None:
        """Take the pause of ``thread_id``, if one is known."""
        with self._lock:
            return self._items.pop(str(thread_id), None)

    def clear(self) -> None:
        """Forget every pause."""
        with self._lock:
            self._items.clear()


PENDING = PendingInterrupts()
