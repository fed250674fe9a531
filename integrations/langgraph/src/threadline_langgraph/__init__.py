"""threadline for LangGraph: thread ids as sessions, graph and node spans, interrupts and resumes.

>>> import threadline
>>> threadline.instrument()              # or instrument(integrations=["langgraph"])
>>> graph.invoke({"messages": [("user", "hi")]}, {"configurable": {"thread_id": "t-1"}})

A LangGraph ``thread_id`` becomes the session of every trace run on it (an
explicit ``threadline.session()`` wins), with no callbacks to pass. Each
turn is a trace: the graph run (``graph``, or ``agent`` for
``create_agent`` / ``create_react_agent`` graphs) with one ``node`` span per
task, named after the node, carrying its step, checkpoint namespace,
checkpoint id and triggers; subgraph nodes nest under their parent node,
``Send`` fan-out and parallel branches are siblings; model, tool and
retriever calls nest in the node that made them.

Human in the loop: ``interrupt()`` in a node and ``interrupt_before`` /
``interrupt_after`` breakpoints end the node and the trace *interrupted*,
never as errors, with the interrupt ids and payloads recorded. A run that
resumes (``Command(resume=...)``, a resume map ``{interrupt_id: value}``, or
``None`` input on a thread with a pending interrupt) is a new trace in the
same session, marked as a resume, naming the interrupts it answers and the
checkpoint it resumes from, and linked to the paused trace when that ran in
this process. Other control flow (``ParentCommand`` hand-offs) is not an
error either, and a consumer that stops reading a ``stream()`` ends the run
*cancelled*.

The handler also works alone::

    graph.invoke(inputs, {"configurable": {"thread_id": "t-1"}, "callbacks": [ThreadlineGraphCallbackHandler()]})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from threadline_langgraph._integration import LangGraphIntegration

if TYPE_CHECKING:
    from threadline_langgraph._handler import ThreadlineGraphCallbackHandler

__all__ = ["LangGraphIntegration", "ThreadlineGraphCallbackHandler"]


def __getattr__(name: str) -> Any:
    # The handler subclasses LangGraph's GraphCallbackHandler: import LangGraph only when asked for.
    if name == "ThreadlineGraphCallbackHandler":
        from threadline_langgraph._handler import ThreadlineGraphCallbackHandler

        return ThreadlineGraphCallbackHandler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
