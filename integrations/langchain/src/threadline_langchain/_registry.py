"""The locked run-id -> span map every LangChain handler shares.

LangChain callbacks carry a ``run_id`` and a ``parent_run_id``; they are not
guaranteed to pair with the code that runs (a sync handler may run in an
executor thread, a generator may be dropped unfinished), so parents are looked
up here and never taken from ``context.attach()``.

An entry leaves the map when its run ends or errors. When a trace's root run
ends, whatever of that trace is still open was abandoned (a stream closed
early, a task left running): those entries are handed back to be ended as
cancelled, and their ids are remembered for a while so that late children of
an abandoned run are dropped instead of starting stray traces. The map is
bounded: past :data:`MAX_OPEN_RUNS` open runs the oldest trace is abandoned.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from threadline.emitter import Emitter, SpanHandle

MAX_OPEN_RUNS = 50_000
MAX_ABANDONED_IDS = 8_192
_NONE: tuple[RunEntry, ...] = ()  # what most calls return: nothing evicted or abandoned


class RunEntry:
    """One open LangChain run.

    ``handle`` is ``None`` for a run that is folded into its parent (a hidden
    LangChain run): its children are parented to the nearest ancestor that has
    a span. ``root`` is the entry that started the trace (itself for a root);
    only a root has ``members``, the open entries of its trace. ``info`` is
    what the handler that created the entry wants to remember about the run;
    ``shared`` (on a root) what it wants to remember about the whole trace.
    """

    __slots__ = ("run_id", "handle", "parent", "_root", "emitter", "members", "info", "shared", "token_seen")

    def __init__(
        self,
        run_id: UUID,
        handle: SpanHandle | None,
        parent: RunEntry | None,
        emitter: Emitter,
        info: Any = None,
    ) -> None:
        self.run_id = run_id
        self.handle = handle
        self.parent = parent
        self.emitter = emitter
        self.info = info
        self.shared: dict[str, Any] | None = None
        self.token_seen = False
        if parent is None:
            # A root does not point at itself: that cycle would leave every
            # trace's entries to the garbage collector.
            self._root: RunEntry | None = None
            self.members: dict[UUID, RunEntry] | None = {}
        else:
            root = parent._root
            self._root = root if root is not None else parent
            self.members = None

    @property
    def root(self) -> RunEntry:
        """The entry that started this run's trace (itself for a root)."""
        return self._root if self._root is not None else self

    @property
    def span_handle(self) -> SpanHandle | None:
        """This run's span, or the nearest ancestor's when this run is folded."""
        entry: RunEntry | None = self
        while entry is not None:
            if entry.handle is not None:
                return entry.handle
            entry = entry.parent
        return None


class RunRegistry:
    """Open runs by id, with their traces, under one lock."""

    def __init__(self, max_open: int = MAX_OPEN_RUNS, max_abandoned: int = MAX_ABANDONED_IDS) -> None:
        self._lock = threading.Lock()
        self._runs: dict[UUID, RunEntry] = {}
        self._roots: dict[UUID, RunEntry] = {}  # insertion order: oldest first
        self._abandoned: OrderedDict[UUID, None] = OrderedDict()
        self._max_open = max_open
        self._max_abandoned = max_abandoned

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, run_id: UUID | None) -> RunEntry | None:
        """The open entry of ``run_id``, if any (``None`` for ``None``: it is never a key)."""
        return self._runs.get(run_id)  # type: ignore[arg-type]

    def is_abandoned(self, run_id: UUID | None) -> bool:
        """True when ``run_id`` was ended as abandoned (its late children are dropped)."""
        return run_id is not None and run_id in self._abandoned

    def mark_abandoned(self, run_id: UUID) -> None:
        """Remember that ``run_id`` is gone, so runs started under it are dropped."""
        with self._lock:
            self._remember_abandoned(run_id)

    def add(self, entry: RunEntry) -> Sequence[RunEntry]:
        """Register ``entry``; returns entries evicted to stay bounded (the caller ends them)."""
        evicted: Sequence[RunEntry] = _NONE
        with self._lock:
            self._runs[entry.run_id] = entry
            root = entry._root
            if root is None:
                root = entry
                self._roots[entry.run_id] = entry
            if root.members is not None:
                root.members[entry.run_id] = entry
            while len(self._runs) > self._max_open and self._roots:
                oldest_id = next(iter(self._roots))
                oldest = self._roots.pop(oldest_id)
                evicted = [*evicted, *self._drop_trace(oldest)]
        return evicted

    def remove(self, run_id: UUID) -> tuple[RunEntry | None, Sequence[RunEntry]]:
        """Take ``run_id`` out of the map.

        Returns its entry and, when it was a trace root, the entries of that
        trace that are still open (abandoned: the caller ends them as cancelled).
        """
        with self._lock:
            entry = self._runs.pop(run_id, None)
            if entry is None:
                return None, _NONE
            root = entry._root
            if root is not None:
                if root.members is not None:
                    root.members.pop(run_id, None)
                return entry, _NONE
            self._roots.pop(run_id, None)
            return entry, self._drop_trace(entry)

    def _drop_trace(self, root: RunEntry) -> list[RunEntry]:
        members = [m for m in (root.members or {}).values() if m is not root]
        if root.members:
            root.members.clear()
        self._roots.pop(root.run_id, None)
        left: list[RunEntry] = []
        # Latest started first: children end before their parents.
        for member in reversed(members):
            if self._runs.pop(member.run_id, None) is not None:
                left.append(member)
            self._remember_abandoned(member.run_id)
        if self._runs.pop(root.run_id, None) is not None:  # an evicted root is still registered
            left.append(root)
            self._remember_abandoned(root.run_id)
        return left

    def _remember_abandoned(self, run_id: UUID) -> None:
        self._abandoned[run_id] = None
        while len(self._abandoned) > self._max_abandoned:
            self._abandoned.popitem(last=False)

    def clear(self) -> list[RunEntry]:
        """Forget every open run; returns them (the caller may end them)."""
        with self._lock:
            left = list(self._runs.values())
            self._runs.clear()
            self._roots.clear()
            self._abandoned.clear()
        return left


REGISTRY = RunRegistry()
"""The map shared by every :class:`~threadline_langchain.ThreadlineCallbackHandler`."""
