"""The LangGraph callback handler: graphs, nodes, interrupts and resumes.

It is a :class:`~threadline_langchain.ThreadlineCallbackHandler` (every
LangChain run inside a graph is traced as usual) and a LangGraph
``GraphCallbackHandler``, the only kind of handler LangGraph sends its
lifecycle events to (``on_interrupt`` / ``on_resume``, with checkpoint ids).

==================================  ===========================================
LangGraph                            span
==================================  ===========================================
a graph run (top level or subgraph)  ``Run(GRAPH)``; ``AGENT`` for agents
a node (task) of a graph             ``Run(NODE)`` named after the node, with
                                     step, checkpoint ns / id and triggers
``interrupt()`` in a node            node and trace end ``interrupted``; ids and
                                     payloads recorded (not an error)
a resumed run                        a new trace in the same session, marked as
                                     a resume, linked to the paused one
==================================  ===========================================
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.callbacks import GraphCallbackHandler, GraphInterruptEvent, GraphResumeEvent

from threadline import semconv as sc
from threadline.guard import failed
from threadline.records import GraphPause, GraphResume, Interrupt, Outcome, Run, SpanKind, SpanRecord
from threadline_langchain import _extract as ex
from threadline_langchain import _records as rec
from threadline_langchain._handler import ThreadlineCallbackHandler
from threadline_langchain._registry import RunEntry
from threadline_langgraph import _readable
from threadline_langgraph._options import Options
from threadline_langgraph._pending import PENDING, Pending
from threadline_langgraph._wrappers import GRAPH_SLOT, GraphSlot

# ``ls_integration`` values of a graph run: LangGraph's own, and ``langchain.agents.create_agent``.
GRAPH_INTEGRATIONS = frozenset({"langgraph", "langchain_create_agent"})
AGENT_INTEGRATION = "langchain_create_agent"
_PAUSED_IDS = "paused_interrupt_ids"
_HEX = frozenset("0123456789abcdef")
_PUSH = "__pregel_push"  # a ``Send`` task's trigger: its input is the payload sent, not the graph state


class GraphInfo:
    """What the handler remembers about a LangGraph run (see :attr:`RunEntry.info`)."""

    __slots__ = (
        "role",
        "checkpoint_ns",
        "checkpoint_id",
        "thread_id",
        "top_level",
        "pending",
        "breakpoint_nodes",
        "no_input",
    )

    def __init__(self, role: str, checkpoint_ns: str | None = None) -> None:
        self.role = role  # graph | node | chain
        self.checkpoint_ns = checkpoint_ns
        self.checkpoint_id: str | None = None  # a graph: the checkpoint its current step runs from
        self.thread_id: Any = None
        self.top_level = False
        self.pending: Pending | None = None  # a resumed run: the pause it took over
        self.breakpoint_nodes: list[str] | None = None
        self.no_input = False  # a top-level run started with ``None``: continues from its checkpoint


def _info(entry: RunEntry | None) -> GraphInfo | None:
    info = entry.info if entry is not None else None
    return info if isinstance(info, GraphInfo) else None


def _enclosing_ns(entry: RunEntry | None) -> str | None:
    while entry is not None:
        info = entry.info
        if info.__class__ is GraphInfo:
            if info.checkpoint_ns is not None:
                return info.checkpoint_ns
            if info.role == "graph":
                return None
        entry = entry.parent
    return None


def _enclosing_graph(entry: RunEntry | None) -> RunEntry | None:
    while entry is not None:
        info = entry.info
        if info.__class__ is GraphInfo and info.role == "graph":
            return entry
        entry = entry.parent
    return None


def _is_resume_map(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and len(k) == 32 and _HEX.issuperset(k) for k in value)
    )


def _interrupts(values: Any) -> list[Interrupt]:
    out: list[Interrupt] = []
    if not isinstance(values, (list, tuple)):
        return out
    for item in values:
        interrupt_id = getattr(item, "id", None)
        out.append(
            Interrupt(id=interrupt_id if isinstance(interrupt_id, str) else "", value=getattr(item, "value", item))
        )
    return out


_agent_graphs: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _is_prebuilt_agent(graph: Any) -> bool:
    """A ``create_react_agent`` graph: an ``agent`` node and a ``ToolNode`` named ``tools`` (cached per graph)."""
    try:
        known = _agent_graphs.get(graph)
    except TypeError:  # not weak-referenceable or not hashable
        known = None
    if known is not None:
        return known
    try:
        nodes = getattr(graph, "nodes", None) or {}
        bound = getattr(nodes.get("tools"), "bound", None)
        result = "agent" in nodes and type(bound).__name__ == "ToolNode"
    except Exception:  # noqa: BLE001 - any graph-like object
        result = False
    try:
        _agent_graphs[graph] = result
    except TypeError:
        pass
    return result


class ThreadlineGraphCallbackHandler(ThreadlineCallbackHandler, GraphCallbackHandler):
    """Traces LangGraph graphs: thread ids as sessions, node spans, interrupts and resumes.

    ``threadline.instrument()`` adds it to every callback manager. Used alone::

        handler = ThreadlineGraphCallbackHandler()
        graph.invoke(inputs, {"configurable": {"thread_id": "t-1"}, "callbacks": [handler]})
    """

    graph_events = True
    integration = "langgraph"

    def integration_for(self, parent: RunEntry | None) -> str:
        """``langgraph`` inside a graph; a model, tool or chain run outside any graph is LangChain's."""
        return self.integration if _enclosing_graph(parent) is not None else ThreadlineCallbackHandler.integration

    # -- classifying chain runs -----------------------------------------------------------------------
    def _chain_record(
        self, serialized: Any, inputs: Any, parent: RunEntry | None, run: Mapping[str, Any]
    ) -> tuple[SpanRecord | None, Any]:
        md = run.get("metadata") or {}
        slot = GRAPH_SLOT.get()
        if slot is not None and slot.run_id is None:
            slot.run_id = run["run_id"]  # the first run a graph's stream starts is the graph's own
            return self._graph_record(serialized, inputs, parent, run, md, slot)
        if rec.is_hidden(run):
            return None, None
        node = md.get("langgraph_node")
        ns = md.get("langgraph_checkpoint_ns")
        if node is None:
            if md.get("ls_integration") in GRAPH_INTEGRATIONS and _enclosing_graph(parent) is None:
                # A top-level graph run seen without the stream wrapper (a handler used alone).
                return self._graph_record(serialized, inputs, parent, run, md, None)
        elif isinstance(node, str) and rec.run_name(serialized, run, "") == node and ns != _enclosing_ns(parent):
            return self._node_record(inputs, parent, run, md, node, ns)
        record, _ = super()._chain_record(serialized, inputs, parent, run)
        return record, GraphInfo("chain", ns if isinstance(ns, str) else None)

    def _graph_record(
        self,
        serialized: Any,
        inputs: Any,
        parent: RunEntry | None,
        run: Mapping[str, Any],
        md: Mapping[str, Any],
        slot: GraphSlot | None,
    ) -> tuple[SpanRecord | None, Any]:
        configurable = (slot.config or {}).get("configurable") if slot is not None and slot.config else None
        thread_id = (configurable or {}).get("thread_id", md.get("thread_id"))
        top_level = _enclosing_graph(parent) is None
        ns = md.get("langgraph_checkpoint_ns")
        info = GraphInfo("graph", ns if isinstance(ns, str) and not top_level else None)
        info.thread_id = thread_id
        info.top_level = top_level
        info.no_input = inputs is None
        agent_name = md.get("lc_agent_name")
        is_agent = (
            bool(agent_name)
            or (top_level and md.get("ls_integration") == AGENT_INTEGRATION)
            or (slot is not None and _is_prebuilt_agent(slot.graph))
        )
        hints: Mapping[str, Any] = md
        if thread_id is not None and md.get("thread_id") is None:
            hints = {**md, "thread_id": thread_id}
        resume = None
        if top_level:
            resume, info.pending = self._resume_of(thread_id, inputs)
        record = Run(
            name=agent_name if isinstance(agent_name, str) and agent_name else rec.run_name(serialized, run, "graph"),
            integration=self.integration,
            run_id=str(run["run_id"]),
            inputs=self._content(parent, inputs, _readable.turn_input if top_level else ex.io_view),
            session_hints=hints or None,
            tags=rec.user_tags(run.get("tags")),
            run_kind=SpanKind.AGENT if is_agent else SpanKind.GRAPH,
            resume=resume,
        )
        return record, info

    def _node_record(
        self, inputs: Any, parent: RunEntry | None, run: Mapping[str, Any], md: Mapping[str, Any], node: str, ns: Any
    ) -> tuple[SpanRecord | None, Any]:
        graph = _info(_enclosing_graph(parent))
        step = md.get("langgraph_step")
        triggers = md.get("langgraph_triggers")
        sent = isinstance(triggers, (list, tuple)) and _PUSH in triggers
        record = Run(
            name=node,
            integration=self.integration,
            run_id=str(run["run_id"]),
            inputs=self._content(parent, inputs) if sent or Options.full_node_inputs else None,
            session_hints=md or None,
            tags=rec.user_tags(run.get("tags")),
            run_kind=SpanKind.NODE,
            node=node,
            step=step if isinstance(step, int) and not isinstance(step, bool) else None,
            checkpoint_ns=ns if isinstance(ns, str) else None,
            checkpoint_id=graph.checkpoint_id if graph is not None else None,
            triggers=[str(t) for t in triggers] if isinstance(triggers, (list, tuple)) else None,
        )
        return record, GraphInfo("node", ns if isinstance(ns, str) else None)

    # -- resumes ----------------------------------------------------------------------------------------
    def _resume_of(self, thread_id: Any, inputs: Any) -> tuple[GraphResume | None, Pending | None]:
        """Whether a top-level run resumes a pause: from its input and the pauses seen in this process."""
        pending = PENDING.pop(thread_id) if thread_id is not None else None
        if _readable._is_command(inputs):
            value = inputs.resume
            if value is None:
                if pending is not None:
                    PENDING.put(thread_id, pending)  # an update or goto leaves the pause pending
                return None, None
            ids: Sequence[str] = list(value) if _is_resume_map(value) else (pending.interrupt_ids if pending else ())
        elif inputs is None and pending is not None:
            value, ids = None, pending.interrupt_ids
        else:
            return None, None
        resume = GraphResume(
            interrupt_ids=ids,
            value=value,
            checkpoint_id=pending.checkpoint_id if pending is not None else None,
            linked_trace=pending.span_context if pending is not None else None,
        )
        return resume, pending

    # -- outputs and errors ---------------------------------------------------------------------------------
    def _outputs(self, entry: RunEntry, outputs: Any) -> Any:
        info = _info(entry)
        if info is not None and info.role == "graph" and info.top_level:
            paused = entry.handle is not None and entry.handle.record.outcome is Outcome.INTERRUPTED
            return _readable.turn_output(outputs, paused=paused)
        return super()._outputs(entry, outputs)

    def _error_outcome(self, entry: RunEntry, error: BaseException, outcome: Outcome) -> Outcome:
        info = _info(entry)
        if outcome is Outcome.INTERRUPTED and entry.handle is not None:
            interrupts = _interrupts(error.args[0] if error.args else ())
            shared = entry.root.shared
            if shared is None:
                shared = entry.root.shared = {}
            paused: set[str] = shared.setdefault(_PAUSED_IDS, set())
            # Only the innermost run that raised an interrupt records it; enclosing runs just end interrupted.
            new = [i for i in interrupts if i.id not in paused]
            if new:
                paused.update(i.id for i in new)
                graph = _info(_enclosing_graph(entry.parent))
                entry.emitter.pause(
                    entry.handle,
                    GraphPause(
                        interrupts=new,
                        checkpoint_id=graph.checkpoint_id if graph is not None else None,
                        checkpoint_ns=info.checkpoint_ns if info is not None else None,
                    ),
                )
        elif outcome is Outcome.ERROR and info is not None and info.top_level and info.pending is not None:
            PENDING.put(info.thread_id, info.pending)  # the resume failed: the pause is still open
        return outcome

    # -- LangGraph lifecycle events -----------------------------------------------------------------------
    def on_interrupt(self, event: GraphInterruptEvent) -> None:
        """A top-level graph paused: record the interrupts on its span and remember them for the resume."""
        try:
            entry = self._registry.get(event.run_id)
            if entry is None or entry.handle is None:
                return
            interrupts = _interrupts(event.interrupts)
            info = _info(entry)
            if not interrupts:  # a breakpoint: interrupt_before / interrupt_after
                payload: dict[str, Any] = {"breakpoint": event.status}
                if info is not None and info.breakpoint_nodes:
                    payload["nodes"] = list(info.breakpoint_nodes)
                interrupts = [Interrupt(id="", value=payload)]
            ns = "|".join(event.checkpoint_ns) if event.checkpoint_ns else None
            entry.emitter.pause(
                entry.handle, GraphPause(interrupts=interrupts, checkpoint_id=event.checkpoint_id, checkpoint_ns=ns)
            )
            if info is not None and info.thread_id is not None and info.top_level:
                PENDING.put(
                    info.thread_id,
                    Pending(
                        interrupt_ids=[i.id for i in interrupts if i.id],
                        checkpoint_id=event.checkpoint_id,
                        span_context=entry.handle.span_context,
                    ),
                )
        except Exception as exc:
            if failed("langgraph.on_interrupt", exc):
                raise

    def on_resume(self, event: GraphResumeEvent) -> None:
        """A top-level graph resumed from a checkpoint: add the checkpoint id, and mark a ``None``-input run.

        A resume the run's input names (``Command(resume=...)``) is marked when
        the run starts; one with ``None`` input is known to be one only now when
        the pause happened in another process. A ``Command`` that only updates
        state or jumps also continues from the checkpoint, but answers nothing:
        it is not marked.
        """
        try:
            entry = self._registry.get(event.run_id)
            info = _info(entry)
            if entry is None or entry.handle is None or info is None or not info.top_level:
                return
            record = entry.handle.record
            resume = getattr(record, "resume", None)
            if resume is None:
                if not info.no_input:
                    return
                record.attributes[sc.RESUME] = True
                record.attributes[sc.RESUME_CHECKPOINT_ID] = event.checkpoint_id
            elif not resume.checkpoint_id:
                record.attributes[sc.RESUME_CHECKPOINT_ID] = event.checkpoint_id
        except Exception as exc:
            if failed("langgraph.on_resume", exc):
                raise
