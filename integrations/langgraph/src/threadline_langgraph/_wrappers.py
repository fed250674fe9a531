"""LangGraph's own choke points: ``Pregel.stream`` / ``astream`` and the loop's steps.

``Pregel.stream`` / ``astream`` (``invoke`` and ``ainvoke`` run through them,
for top-level graphs and subgraphs alike) are wrapped so that the handler
knows, when a run starts, that it is a graph run and of which graph: the
wrapper puts a :class:`GraphSlot` in the context around each step of the
stream, and the first chain run started in it (LangGraph's own
``on_chain_start`` for the graph, the first thing its first step does) takes
it.

``PregelLoop.tick`` / ``after_tick`` are wrapped to note, per graph run, the
checkpoint each step runs from (node spans carry it) and, when a breakpoint
(``interrupt_before`` / ``interrupt_after``) stops the run, which nodes it
stopped at.
"""

from __future__ import annotations

import contextvars
from typing import Any
from uuid import UUID

from threadline.guard import failed
from threadline_langchain._registry import REGISTRY
from threadline_langchain._slots import adrive, drive


class GraphSlot:
    """The graph a ``stream()`` call runs; ``run_id`` is set when its run starts."""

    __slots__ = ("graph", "config", "run_id")

    def __init__(self, graph: Any, config: Any) -> None:
        self.graph = graph
        self.config = config if isinstance(config, dict) else None
        self.run_id: UUID | None = None


GRAPH_SLOT: contextvars.ContextVar[GraphSlot | None] = contextvars.ContextVar(
    "threadline_langgraph_graph_slot", default=None
)


def _slot_scope(slot: GraphSlot) -> tuple[Any, Any, Any]:
    def enter() -> Any:
        return GRAPH_SLOT.set(slot)

    def leave(token: Any) -> None:
        GRAPH_SLOT.reset(token)

    def taken() -> bool:
        return slot.run_id is not None  # once taken, the slot has nothing more to say: later steps run unscoped

    return enter, leave, taken


def _config_arg(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if "config" in kwargs:
        return kwargs["config"]
    return args[1] if len(args) > 1 else None


def stream_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``Pregel.stream``: tell the handler which run is this graph's."""
    gen = wrapped(*args, **kwargs)
    return drive(gen, *_slot_scope(GraphSlot(instance, _config_arg(args, kwargs))))


def astream_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``Pregel.astream``: as :func:`stream_wrapper`."""
    agen = wrapped(*args, **kwargs)
    return adrive(agen, *_slot_scope(GraphSlot(instance, _config_arg(args, kwargs))))


_BREAKPOINTS = {"interrupt_before": "interrupt_before", "interrupt_after": "interrupt_after"}


def _task_names(loop: Any) -> list[str]:
    tasks = getattr(loop, "tasks", None) or {}
    return [t.name for t in tasks.values()]


def _note_step(loop: Any, ran: list[str] | None = None) -> None:
    manager = getattr(loop, "manager", None)
    entry = REGISTRY.get(getattr(manager, "run_id", None))
    info = entry.info if entry is not None else None
    if info is None or not hasattr(info, "checkpoint_id"):
        return
    checkpoint = getattr(loop, "checkpoint", None)
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("id"), str):
        info.checkpoint_id = checkpoint["id"]
    status = getattr(loop, "status", None)
    if status in _BREAKPOINTS:
        wanted = getattr(loop, status, None)
        # interrupt_after: the nodes that just ran (the loop has already prepared the next ones).
        names = ran if status == "interrupt_after" and ran is not None else _task_names(loop)
        info.breakpoint_nodes = [n for n in names if wanted == "*" or (wanted and n in wanted)]


def tick_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``PregelLoop.tick``: note the checkpoint the step runs from, and an ``interrupt_before`` hit."""
    try:
        return wrapped(*args, **kwargs)
    finally:
        try:
            _note_step(instance)
        except Exception as exc:
            if failed("langgraph.tick", exc):
                raise


def after_tick_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``PregelLoop.after_tick``: note the nodes an ``interrupt_after`` breakpoint stopped after."""
    if not getattr(instance, "interrupt_after", None):
        return wrapped(*args, **kwargs)  # the next tick notes the new checkpoint
    ran = None
    try:
        ran = _task_names(instance)
    except Exception as exc:
        if failed("langgraph.after_tick", exc):
            raise
    try:
        return wrapped(*args, **kwargs)
    finally:
        try:
            _note_step(instance, ran)
        except Exception as exc:
            if failed("langgraph.after_tick", exc):
                raise
