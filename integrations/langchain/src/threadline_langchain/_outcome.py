"""How a LangChain run that raised ended: error, cancelled, interrupted, or control flow.

LangGraph steers execution with exceptions that are not failures: an
``interrupt()`` raises ``GraphInterrupt`` through the node and every enclosing
graph, a ``Command(graph=Command.PARENT)`` hand-off raises ``ParentCommand``,
a drain raises ``GraphDrained``. A consumer that stops reading a stream throws
``GeneratorExit`` into it, and a cancelled task raises ``CancelledError``.
These are classified by type (``isinstance``), never by message text. The
LangGraph types are looked up only when ``langgraph.errors`` is already
imported, so this module never imports LangGraph.
"""

from __future__ import annotations

import asyncio
import sys

from threadline.records import Outcome


def outcome_of(error: BaseException) -> Outcome:
    """The outcome of a run that raised ``error``."""
    if isinstance(error, (GeneratorExit, asyncio.CancelledError)):
        return Outcome.CANCELLED
    errors = sys.modules.get("langgraph.errors")
    if errors is not None:
        bubble_up = getattr(errors, "GraphBubbleUp", None)
        if bubble_up is not None and isinstance(error, bubble_up):
            interrupt = getattr(errors, "GraphInterrupt", None)
            if interrupt is not None and isinstance(error, interrupt):
                return Outcome.INTERRUPTED
            drained = getattr(errors, "GraphDrained", None)
            if drained is not None and isinstance(error, drained):
                return Outcome.CANCELLED
            return Outcome.OK  # ParentCommand and other hand-offs: control flow
    return Outcome.ERROR
