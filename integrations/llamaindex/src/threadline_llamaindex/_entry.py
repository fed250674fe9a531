"""One open dispatcher span as the tracker keeps it: :class:`Entry`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threadline.emitter import SpanHandle
from threadline_llamaindex._classify import Category


@dataclass(slots=True, eq=False)
class Entry:
    """One open dispatcher span: owns a threadline span (``handle``) or is folded into ``folded_into``.

    ``pending``: exited with a stream (or a streaming chat response) whose end
    is still to come. ``ends_parent``: a stream writer whose end ends its chat
    engine's span. ``writer_done``: that writer ended before the chat span
    returned (its error, if any). ``tool_name`` / ``tool_call_id``: what a
    tool span below an agent's ``call_tool`` step is named and which call it
    answers.
    """

    id: str
    category: Category | None
    instance_id: int
    handle: SpanHandle | None = None
    folded_into: Entry | None = None
    is_run: bool = False
    pending: bool = False
    finalizer: Any = None
    result_ref: Any = None
    usage: Any = None
    saw_token: bool = False
    ends_parent: bool = False
    writer_done: tuple[BaseException | None] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None

    @property
    def target(self) -> Entry | None:
        """The entry whose span this one reports to: itself when it owns a span, else the one it is folded into.

        Not stored for an owner: ``entry.target = entry`` would be a reference
        cycle, leaving every span of a query to the garbage collector.
        """
        return self if self.handle is not None else self.folded_into


# The parent of folded dispatcher spans that have no kept ancestor (``target`` is None).
NO_TARGET = Entry("", None, 0)
